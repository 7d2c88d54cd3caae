from pathlib import Path

from chassis.settings import ServiceSettings


class PersonnelSettings(ServiceSettings):
    service_name: str = "personnel"
    database: str = "moha_personnel"
    http_port: int = 8005
    # A unit's records come as one sheet: thousands of rows (MAX_UPLOAD_BYTES, read as a stream).
    max_upload_bytes: int = 5_000_000
    # Personal data keys from a secret (chassis/personal_data.py; `python -m chassis.personal_data`
    # makes them): AES-256 keys `id:key`, the first encrypts, all decrypt; and the key of the hashes
    # that search and uniqueness use, which does not rotate with them.
    personal_data_keys: str = ""
    personal_data_keys_file: str = ""
    personal_data_index_key: str = ""

    def encryption_keys(self) -> str:
        if self.personal_data_keys_file:
            return Path(self.personal_data_keys_file).read_text()
        return self.personal_data_keys
