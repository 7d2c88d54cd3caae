from chassis.settings import ServiceSettings


class FormsSettings(ServiceSettings):
    service_name: str = "forms"
    database: str = "moha_forms"
    http_port: int = 8002
