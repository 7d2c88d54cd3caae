from pathlib import Path

from chassis.settings import ServiceSettings


class AccountsSettings(ServiceSettings):
    service_name: str = "accounts"
    database: str = "moha_accounts"
    http_port: int = 8001
    # The first central administrator, created at first start when a password is given.
    bootstrap_admin_username: str = "admin"
    bootstrap_admin_password: str | None = None
    # Short tokens bound how long a revoked account or a changed role keeps working.
    token_ttl_seconds: int = 900
    # Token signing keys (Ed25519, PKCS#8 PEM), from a secret: the first signs, all are published.
    # Rotate by adding the new key second, then first once every replica has it, and dropping the
    # old one when its last tokens have expired (TOKEN_TTL_SECONDS).
    token_signing_keys: str = ""
    token_signing_keys_file: str = ""
    # Password hashing (passwords.py): argon2 workers (0: one per core), and how many sign-ins may
    # wait for one, overall and from one address, before the next is told to retry (429).
    hash_workers: int = 0
    hash_queue_limit: int = 64
    hash_queue_per_address: int = 16

    def signing_keys_pem(self) -> str:
        if self.token_signing_keys_file:
            return Path(self.token_signing_keys_file).read_text()
        return self.token_signing_keys
