"""``python -m telehealth.portal``: migrate, seed the first administrator, start the dispatcher and
the retention passes (telehealth/retention.py; RETENTION_INTERVAL_HOURS, 0 = off), serve.

Environment: DATABASE_URL, PORTAL_HOST (127.0.0.1), PORTAL_PORT (8000), PORTAL_SECRET_KEY,
PORTAL_ADMIN_EMAIL (admin@example.org; used only when there is no administrator yet),
PORTAL_DISPATCHER (0: do not run the dispatcher in this process), PORTAL_THREADS (8).
The first administrator's password is generated and printed once to stdout; it is never logged
or stored in clear (only its Argon2 hash).
"""
from __future__ import annotations

import logging
import os
import sys

from sqlalchemy import select

from telehealth import db, dispatch, retention
from telehealth.doctors import create_admin
from telehealth.portal import create_app

logger = logging.getLogger("telehealth.portal")


def seed_admin(url: str) -> None:
    with db.session_scope(url) as session:
        if session.execute(select(db.PortalUser.id).where(db.PortalUser.role == "admin")).first():
            return
        email = os.environ.get("PORTAL_ADMIN_EMAIL") or "admin@example.org"
        user, password = create_admin(session, email)
    # stdout only, once: not through logging, so it reaches no log file or collector.
    sys.stdout.write(f"Created the portal administrator {user.email} with the password: {password}\n"
                     "Write it down now; it is not shown again.\n")
    sys.stdout.flush()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from waitress import serve

    url = db.database_url()
    db.upgrade(url)
    seed_admin(url)
    if os.environ.get("PORTAL_DISPATCHER", "1") != "0":
        dispatch.start_background(url=url)
        logger.info("dispatcher started")
    if retention.start_background(url=url) is not None:
        logger.info("retention pass every %g hours (telehealth/retention.py)", retention.interval_hours())
    host = os.environ.get("PORTAL_HOST") or "127.0.0.1"
    port = int(os.environ.get("PORTAL_PORT") or 8000)
    app = create_app(url)
    logger.info("portal on http://%s:%d", host, port)
    serve(app, host=host, port=port, threads=int(os.environ.get("PORTAL_THREADS") or 8), ident="telehealth-portal")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
