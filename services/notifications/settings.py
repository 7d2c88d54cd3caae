from chassis.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    database: str = "moha_notifications"
    http_port: int = 8004
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_sender: str = "Bộ Nội vụ <khong-tra-loi@moha.gov.vn>"
    # Retries with backoff while the SMTP server is away; a message waits, it is not lost.
    mail_retry_base_seconds: float = 1.0
    mail_retry_max_seconds: float = 300.0
    mail_max_attempts: int = 50
    mail_poll_seconds: float = 1.0
    mail_concurrency: int = 8
    # Reminders: the lead times before a deadline, in days; the hour (Vietnam) from which a day's
    # reminders go out; how often the scheduler looks; how long after a campaign closes it still
    # sends the overdue lists.
    reminder_days_before: list[int] = [5, 2, 1]
    reminder_hour: int = 7
    reminder_interval_seconds: float = 300.0
    overdue_window_days: int = 30
