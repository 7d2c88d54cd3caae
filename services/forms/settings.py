from chassis.settings import ServiceSettings


class FormsSettings(ServiceSettings):
    service_name: str = "forms"
    database: str = "moha_forms"
    http_port: int = 8002
    # The PAR Index survey: the address respondents open (the public front, in production), and
    # when many answers from one network address or device within a window are flagged.
    survey_link_base: str = "http://127.0.0.1:8000/s"
    survey_burst_threshold: int = 10
    survey_burst_window_seconds: float = 600.0
    survey_fingerprint_salt: str = ""
    # The secret invitation ids are keyed with (HMAC): stable per person, not recomputable outside.
    survey_id_secret: str = ""
