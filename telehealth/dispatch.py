"""The dispatcher: offers waiting requests to doctors, expires old offers, and tells patients when
the service level has passed. One round is one transaction (changes and messages together).

The portal process runs the loop in a background thread (``start_background``); it is safe to
run in several processes at once (see ``telehealth.matching.dispatch_round``).
``python -m telehealth.dispatch`` runs it on its own.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import List, Optional

from sqlalchemy.orm import Session

from telehealth import notify
from telehealth.db import ConsultRequest, Doctor, session_scope
from telehealth.matching import Round, dispatch_round, offer, sla_minutes

logger = logging.getLogger(__name__)
INTERVAL_S = 5.0


def notify_offers(session: Session, request: ConsultRequest, doctor_ids: List[int], now: Optional[datetime] = None) -> None:
    for doctor_id in doctor_ids:
        doctor = session.get(Doctor, doctor_id)
        if doctor is not None:
            notify.request_offered(session, request, doctor, now)


def offer_new(session: Session, request: ConsultRequest, now: Optional[datetime] = None) -> List[int]:
    """Offer a new request at once (not at the next round) and tell the doctors."""
    doctor_ids = offer(session, request, now)
    notify_offers(session, request, doctor_ids, now)
    return doctor_ids


def run_round(session: Session, now: Optional[datetime] = None) -> Round:
    result = dispatch_round(session, now)
    for request_id, doctor_ids in result.offers:
        notify_offers(session, session.get(ConsultRequest, request_id), doctor_ids, now)
    for request_id in result.sla_breached:
        notify.to_patient(session, session.get(ConsultRequest, request_id), "utter_consult_sla", now,
                          minutes=int(sla_minutes()))
    return result


def loop(stop: threading.Event, interval_s: float = INTERVAL_S, url: Optional[str] = None) -> None:
    while not stop.is_set():
        try:
            with session_scope(url) as session:
                result = run_round(session, datetime.now(timezone.utc))
            if result.offers or result.sla_breached or result.expired_offers:
                logger.info("dispatch: %d offered, %d offers expired, %d past the service level",
                            len(result.offers), result.expired_offers, len(result.sla_breached))
        except Exception:  # the database was away: try again next round
            logger.exception("dispatch round failed; retrying")
        stop.wait(interval_s)


def start_background(interval_s: float = INTERVAL_S, url: Optional[str] = None) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=loop, args=(stop, interval_s, url), name="dispatcher", daemon=True).start()
    return stop


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    event = threading.Event()
    try:
        loop(event)
    except KeyboardInterrupt:
        pass
