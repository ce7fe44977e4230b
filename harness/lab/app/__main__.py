"""`python -m harness.lab.app ...`: run one replica of the freight load service under uvicorn."""

import uvicorn

from harness.lab.app.main import create_app
from harness.lab.app.settings import parse


def main() -> None:
    settings = parse()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
