"""Doctors' portal and matching benchmark (issue 5), on a temporary database.

Seeds 10,000 doctors and 10,000 open requests with a realistic spread (statuses, languages, time
zones, weekly hours, loads; priorities, locales, waits, offers), then times:

(a) matching for a new request against the 10,000 doctors: ``matching.offer`` (which runs
    ``eligible_doctors``) and ``eligible_doctors`` alone, over --offer-runs runs (each rolled back,
    so every run sees the same database). Target: <= 50 ms.
(b) GET /admin/queue through Flask's test client as a logged-in administrator, over --page-runs
    runs. Target: <= 200 ms. (The doctors list and a doctor's dashboard are timed too, for the record.)

SQLite by default (a temporary file); ``--postgres URL`` also runs on PostgreSQL: a temporary
database is created on that server and dropped afterwards. Prints p50 / p95 per measurement.

    .venv/bin/python bench/portal_bench.py [--postgres postgresql+psycopg2://postgres@127.0.0.1:5432/test]
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from telehealth import consults, db, doctors, matching  # noqa: E402
from telehealth.privacy import encrypt  # noqa: E402

ADMIN_EMAIL, ADMIN_PASSWORD = "bench-admin@example.org", "bench admin password"
DOCTOR_PASSWORD = "bench doctor password"
LOCALE_WEIGHTS = {"ur": 40, "ur-Latn": 20, "en": 10, "pa": 12, "ps": 8, "sd": 6, "bal": 2, "ks": 2}
LANGUAGE_SHARE = {"ur": 0.85, "en": 0.65, "pa": 0.25, "ps": 0.12, "sd": 0.10, "bal": 0.03, "ks": 0.03}
ZONES = ["Asia/Karachi"] * 14 + ["Europe/London", "America/New_York", "Asia/Dubai", "Asia/Riyadh",
                                  "America/Toronto", "Australia/Sydney"]
SLOTS = [["09:00", "17:00"], ["18:00", "23:00"], ["22:00", "02:00"], ["07:00", "12:00"], ["00:00", "23:59"]]


def percentile(values: List[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def timed(fn: Callable[[], None], runs: int) -> List[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


# ----- seeding ----------------------------------------------------------------------------------

def seed(url: str, n_doctors: int, n_requests: int, rnd: random.Random) -> Dict[str, float]:
    started = time.perf_counter()
    db.upgrade(url)
    now = datetime.now(timezone.utc)
    password_hash = doctors.hash_password(DOCTOR_PASSWORD)  # one hash for all: seeding, not logging in
    number = encrypt(b"+923001234567")  # the same ciphertext for every seeded number: they are never read
    engine = db.get_engine(url)
    with db.session_scope(url) as s:
        doctors.create_admin(s, ADMIN_EMAIL, ADMIN_PASSWORD)
    with engine.begin() as conn:
        conn.execute(insert(db.PortalUser), [
            {"email": f"doctor{i}@bench.example.org", "password_hash": password_hash, "role": "doctor",
             "ui_locale": rnd.choice(("en", "ur")), "active": True, "created_at": now} for i in range(n_doctors)
        ])
        user_ids = conn.execute(select(db.PortalUser.id).where(db.PortalUser.role == "doctor")
                                .order_by(db.PortalUser.id)).scalars().all()
        rows = []
        for i, user_id in enumerate(user_ids):
            status = rnd.choices(("verified", "pending", "suspended", "rejected"), (80, 12, 4, 4))[0]
            capacity = rnd.choice((1, 2, 2, 3, 3, 4, 5))
            weekly = {} if rnd.random() < 0.4 else {
                day: [rnd.choice(SLOTS)] for day in matching.WEEKDAYS if rnd.random() < 0.6}
            rows.append({
                "user_id": user_id, "name": f"Dr Bench {i}", "registration_number": f"{10000 + i}-P",
                "council": "PMDC" if rnd.random() < 0.8 else "GMC (UK)", "specialty": "", "gender":
                rnd.choices(("female", "male", "other"), (45, 54, 1))[0], "country": "PK", "city": "",
                "timezone": rnd.choice(ZONES), "weekly_availability": weekly, "whatsapp_number": number,
                "phone_number": number, "status": status, "capacity": capacity,
                "open_consults": rnd.randint(0, capacity) if status == "verified" else 0,
                "available": status == "verified" and rnd.random() < 0.5,
                "last_offered_at": now - timedelta(minutes=rnd.randint(1, 600)) if rnd.random() < 0.7 else None,
                "created_at": now - timedelta(days=rnd.randint(0, 400)),
            })
        conn.execute(insert(db.Doctor), rows)
        doctor_ids = conn.execute(select(db.Doctor.id).order_by(db.Doctor.id)).scalars().all()
        conn.execute(insert(db.DoctorLanguage), [
            {"doctor_id": d, "locale": lang} for d in doctor_ids
            for lang in ([l for l, share in LANGUAGE_SHARE.items() if rnd.random() < share] or ["ur"])
        ])
        verified = conn.execute(select(db.Doctor.id).where(db.Doctor.status == "verified")).scalars().all()
        locales, weights = zip(*LOCALE_WEIGHTS.items())
        requests = []
        for i in range(n_requests):
            created = now - timedelta(seconds=rnd.randint(60, 6 * 3600))
            state = rnd.choices((consults.QUEUED, consults.OFFERED, consults.ACCEPTED), (55, 30, 15))[0]
            requests.append({
                "created_at": created, "updated_at": created, "patient_ref": f"bench-{i}", "channel": "whatsapp",
                "contact": None, "callback_number": number, "call_type": rnd.choice(consults.CALL_TYPES),
                "locale": rnd.choices(locales, weights)[0], "language_fallback": rnd.random() < 0.5,
                "gender_preference": rnd.choices((None, "female", "male"), (80, 15, 5))[0],
                "consent_share": False, "level": rnd.choice(("high", "moderate", "low")),
                "priority": rnd.choices((1, 2, 3, 4, 5), (3, 12, 25, 35, 25))[0], "state": state,
                "doctor_id": rnd.choice(verified) if state == consults.ACCEPTED else None,
                "accepted_at": created + timedelta(minutes=5) if state == consults.ACCEPTED else None,
            })
        conn.execute(insert(db.ConsultRequest), requests)
        offered = conn.execute(select(db.ConsultRequest.id)
                               .where(db.ConsultRequest.state == consults.OFFERED)).scalars().all()
        conn.execute(insert(db.ConsultOffer), [
            {"request_id": r, "doctor_id": d, "offered_at": now - timedelta(minutes=2),
             "expires_at": now + timedelta(minutes=3), "state": "open"}
            for r in offered for d in rnd.sample(verified, 3)
        ])
    with engine.connect() as conn:  # fresh statistics for the planners
        conn.execute(sa.text("ANALYZE"))
        conn.commit()
    return {"seconds": time.perf_counter() - started}


# ----- (a) matching -----------------------------------------------------------------------------

def bench_matching(url: str, runs: int, rnd: random.Random) -> Dict[str, List[float]]:
    offer_ms: List[float] = []
    eligible_ms: List[float] = []
    locales, weights = zip(*LOCALE_WEIGHTS.items())
    for i in range(runs):
        session = sa.orm.Session(db.get_engine(url), future=True)
        try:
            now = datetime.now(timezone.utc)
            request = consults.create_request(session, consults.NewRequest(
                patient_ref=f"bench-new-{uuid.uuid4().hex}", contact=None, channel="whatsapp",
                callback_number="+923001234567", call_type="whatsapp", locale=rnd.choices(locales, weights)[0],
                language_fallback=rnd.random() < 0.5,
                gender_preference=rnd.choices((None, "female", "male"), (80, 15, 5))[0],
                priority=rnd.choice((2, 3, 4)),
            ), now)
            start = time.perf_counter()
            matching.eligible_doctors(session, request, now, matching.offer_fanout())
            eligible_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            matching.offer(session, request, now)
            session.flush()
            offer_ms.append((time.perf_counter() - start) * 1000)
        finally:
            session.rollback()
            session.close()
    return {"matching.eligible_doctors": eligible_ms, "matching.offer (incl. eligible_doctors)": offer_ms}


# ----- (b) the portal's pages -------------------------------------------------------------------

def bench_pages(url: str, runs: int) -> Dict[str, List[float]]:
    from telehealth.portal import create_app

    app = create_app(database_url=url, testing=True)
    out: Dict[str, List[float]] = {}

    def logged_in(email: str, password: str):
        client = app.test_client()
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = client.post("/login", data={"csrf_token": token, "email": email, "password": password})
        assert response.status_code == 302, response.status_code
        return client

    def get(client, path: str) -> None:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)

    admin = logged_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    get(admin, "/admin/queue")  # warm up (templates compiled, connections open)
    out["GET /admin/queue (admin)"] = timed(lambda: get(admin, "/admin/queue"), runs)
    out["GET /admin/queue?page=100 (admin)"] = timed(lambda: get(admin, "/admin/queue?page=100"), runs)
    out["GET /admin/doctors (admin)"] = timed(lambda: get(admin, "/admin/doctors"), runs)
    with db.session_scope(url) as s:  # a doctor with open offers
        email = s.execute(
            select(db.PortalUser.email).join(db.Doctor, db.Doctor.user_id == db.PortalUser.id)
            .join(db.ConsultOffer, db.ConsultOffer.doctor_id == db.Doctor.id).where(db.ConsultOffer.state == "open")
            .limit(1)).scalar()
    doctor = logged_in(email, DOCTOR_PASSWORD)
    get(doctor, "/doctor")
    out["GET /doctor (doctor with offers)"] = timed(lambda: get(doctor, "/doctor"), runs)
    return out


TARGETS = {"matching.offer (incl. eligible_doctors)": 50.0, "GET /admin/queue (admin)": 200.0}


def report(name: str, results: Dict[str, List[float]]) -> bool:
    ok = True
    print(f"\n{name}")
    print(f"{'measurement':44} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  target")
    for what, values in results.items():
        target = TARGETS.get(what)
        p95 = percentile(values, 0.95)
        verdict = "" if target is None else (f"<= {target:.0f} ms " + ("met" if p95 <= target else "MISSED"))
        ok &= target is None or p95 <= target
        print(f"{what:44} {len(values):5d} {statistics.median(values):8.1f} {p95:8.1f} {max(values):8.1f}  {verdict}")
    return ok


def run(label: str, url: str, args) -> bool:
    rnd = random.Random(args.seed)
    seeded = seed(url, args.doctors, args.requests, rnd)
    print(f"\n== {label}: seeded {args.doctors} doctors and {args.requests} open requests in {seeded['seconds']:.1f} s")
    results = bench_matching(url, args.offer_runs, rnd)
    results.update(bench_pages(url, args.page_runs))
    return report(label, results)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a temporary database is created there)")
    parser.add_argument("--doctors", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--offer-runs", type=int, default=100)
    parser.add_argument("--page-runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as work:
        ok &= run("SQLite", f"sqlite:///{Path(work) / 'bench.db'}", args)
    if args.postgres:
        name = f"portal_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.postgres, future=True, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
        try:
            ok &= run("PostgreSQL", url, args)
        finally:
            engine = db._engines.pop(url, None)
            if engine is not None:
                engine.dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()
    print("\nall targets met" if ok else "\nsome targets missed (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
