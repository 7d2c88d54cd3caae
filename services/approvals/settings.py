from chassis.settings import ServiceSettings


class ApprovalsSettings(ServiceSettings):
    service_name: str = "approvals"
    database: str = "moha_approvals"
    http_port: int = 8003
