"""Our stack beside stock Rasa, in one run (issue 6): `make bench`. Not part of `make test`.

Ours: the production profile on this machine (telehealth/deploy.py): the webhook receiver routing
each user to one of --workers Rasa workers (WhatsApp channel, PostgreSQL tracker store, Redis
lock store, RabbitMQ event broker), the action server on PostgreSQL, and the Cloud API stand-in
(telehealth/sandbox/standin.py), which records every reply and, like Meta, sends `sent` and
`delivered` status webhooks back. `--ours embedded` runs `make run`'s single process instead.

Stock: the same domain and training data trained with the configuration `rasa init` writes
(rasa/cli/initial_project/config.yml: Rasa's default pipeline and policies), served by `rasa run`
with the REST channel and Rasa's default (in-memory) stores, calling the same action server code.

Simulated patients in all eight locales run the same conversation (greeting, language choice
from the list, two free-text questions, a symptom check answered with buttons and typed numbers,
a doctor request through the consult form, cancelling it): on WhatsApp as signed webhooks with
button and list ids, on REST as text and button payloads. Phrases come from the held-out phrase
bank (tests/phrases), which is not in the training data.

Phases, each stack in turn (never both at once: one 2-core machine):
1. NLU accuracy on every held-out phrase (/model/parse; intent, faq/<topic> for questions).
2. Sustained throughput: --users patients in a closed loop (next message --think seconds after
   the reply) for --seconds; completed turns/s, reply latency p50/p95/p99.
3. Ours only, paced: turns started at --ratio x stock's sustained turns/s (open loop over a
   population of patients) for --seconds: reply latency at that load, and the acknowledgement
   latency of every webhook (target p99 <= 50 ms).
Memory: the peak resident set (VmHWM) of every process of each stack.

A turn's reply latency is from sending the message to the last message of the bot's answer
(REST: the HTTP response; WhatsApp: the stand-in's receive time of the answer's last message; as
WhatsApp has no end-of-answer signal, a calibration run first counts the messages each step of
each conversation gets, unhurried, and the measured runs wait for that many). Results: printed, and var/bench/report.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.whatsapp_bench import envelope, percentiles  # noqa: E402
from telehealth import deploy  # noqa: E402
from telehealth.i18n import LOCALES  # noqa: E402
from telehealth.whatsapp.cloud_api import SIGNATURE_HEADER, dumps, sign  # noqa: E402
from tests.conftest import load_phrases  # noqa: E402  (the held-out phrase bank)
from tests.e2e.conftest import _free_port as free_port, _wait as wait_http  # noqa: E402

BIN = Path(sys.executable).parent
WORK = ROOT / "var" / "bench"
URDU_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
FALLBACK_LOCALES = ("pa", "ps", "sd", "bal", "ks")  # the consult form asks whether ur/en may call
KEYS = {"PATIENT_ID_KEY": "bench-patient-key", "DATA_ENCRYPTION_KEY": "kWh8Qw3v0j7m4YV1zC0pG1o1y3m0f5m4r7n2k9d6s8A="}
SECRETS = {"verify_token": "bench-verify", "app_secret": "bench-app-secret", "access_token": "bench-token",
           "phone_number_id": "100000000000777", "internal_token": "bench-internal"}


PHRASES = load_phrases()
TRACE: Optional[str] = None


# ----- the conversation ---------------------------------------------------------------------
@dataclass
class Step:
    """What the patient sends: ``text``; or ``choice`` (a button or list row of the bot's last
    message, by position; ``text`` when the message offered none); or ``payload`` (a tap whose id
    the patient's screen already shows, such as a language row)."""
    text: str = ""
    choice: Optional[int] = None
    payload: Optional[str] = None


VARIANTS = 3  # phrasings of each step (the phrase bank has three or more per intent)


def conversation(locale: str, variant: int) -> List[Step]:
    p = PHRASES[locale]
    pick = lambda key: p[key][variant % len(p[key])]  # noqa: E731
    num = lambda v: str(v) if locale in ("en", "ur-Latn") else str(v).translate(URDU_DIGITS)  # noqa: E731
    steps = [
        Step(pick("greet")),
        Step(payload=f'/choose_language{{"language":"{locale}"}}'),
        Step(pick("faq/spread")),
        Step(pick("faq/vaccine")),
        Step(pick("start_screening")),
        Step(pick("deny"), choice=1),           # danger signs: no
        Step(num(1), choice=0),                 # for me
        Step(num(34)),                          # age
        Step(pick("affirm"), choice=0),         # fever
        Step(pick("affirm"), choice=0),         # cough
        Step(pick("deny"), choice=1),           # sore throat
        Step(pick("deny"), choice=1),           # breathing
        Step(pick("deny"), choice=1),           # taste or smell
        Step(num(0)),                           # other symptoms: none
        Step(num(3)),                           # days
        Step(num(2), choice=1),                 # contact: no
        Step(num(0)),                           # comorbidities: none -> result
        Step(pick("request_doctor"), choice=0),  # talk to a doctor
        Step(pick("affirm"), choice=0),         # the doctor may see the answers
        Step(num(1), choice=0),                 # call this number
        Step(num(1), choice=0),                 # WhatsApp call
        Step(num(3), choice=2),                 # no gender preference
    ]
    if locale in FALLBACK_LOCALES:
        steps.append(Step(pick("affirm"), choice=0))  # an Urdu or English speaker may call
    steps += [Step(pick("cancel_consult")), Step(pick("goodbye"))]
    return steps


def text_whatsapp(body: Dict[str, Any]) -> str:
    if body.get("type") == "text":
        return body["text"]["body"]
    if body.get("type") == "interactive":
        return body["interactive"]["body"]["text"]
    return body.get("type", "?")


def choices_whatsapp(body: Dict[str, Any]) -> List[str]:
    interactive = body.get("interactive") or {}
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        return [b["reply"]["id"] for b in action.get("buttons", [])]
    if interactive.get("type") == "list":
        return [row["id"] for section in action.get("sections", []) for row in section.get("rows", [])]
    return []


# ----- measurements -------------------------------------------------------------------------
@dataclass
class Tally:
    window: Tuple[float, float] = (0.0, float("inf"))
    latencies: List[float] = field(default_factory=list)
    acks: List[float] = field(default_factory=list)
    turns: int = 0
    unanswered: int = 0
    errors: Dict[str, int] = field(default_factory=dict)
    conversations: int = 0
    results_reached: int = 0
    trace: Optional[str] = None

    def turn(self, done_at: float, latency: float) -> None:
        if self.window[0] <= done_at <= self.window[1]:
            self.turns += 1
            self.latencies.append(latency)

    def error(self, exc: BaseException) -> None:
        name = type(exc).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


# ----- clients ------------------------------------------------------------------------------
class WhatsAppPatient:
    """One patient on WhatsApp: signed webhooks in, replies read back from the stand-in."""

    def __init__(self, session: aiohttp.ClientSession, webhook: str, standin: str, wa_id: str, settle: float) -> None:
        self.session, self.webhook, self.standin, self.wa_id, self.settle = session, webhook, standin, wa_id, settle
        self.seen = 0
        self.choices: List[str] = []

    async def _post(self, message: Dict[str, Any]) -> float:
        if not self.seen and not self.choices:  # the first message: Meta (the stand-in) opens the 24-hour window
            async with self.session.post(f"{self.standin}/_sandbox/inbound", json={"wa_id": self.wa_id}) as resp:
                resp.raise_for_status()
        body = dumps(envelope(self.wa_id, message, SECRETS["phone_number_id"]))
        start = time.perf_counter()
        async with self.session.post(self.webhook, data=body, headers={
                "Content-Type": "application/json", SIGNATURE_HEADER: sign(body, SECRETS["app_secret"])}) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"webhook answered {resp.status}")
        return time.perf_counter() - start

    async def _wait(self, timeout: float) -> List[Dict[str, Any]]:
        async with self.session.get(f"{self.standin}/_sandbox/wait", params={
                "to": self.wa_id, "after": str(self.seen), "timeout": str(timeout)},
                timeout=aiohttp.ClientTimeout(total=timeout + 30)) as resp:
            messages = (await resp.json())["messages"]
        self.seen += len(messages)
        return messages

    async def send(self, step: Step, timeout: float, expect: Optional[int] = None) -> Tuple[float, Optional[float]]:
        """(acknowledgement seconds, reply latency seconds or None when no reply came).

        The answer is complete when ``expect`` messages came (the number this step gets, from the
        calibration run), or, without a number, when no message came for ``settle`` seconds."""
        if step.payload or (step.choice is not None and step.choice < len(self.choices)):
            reply_id = step.payload or self.choices[step.choice]
            kind = "list_reply" if reply_id.startswith("/choose_language") else "button_reply"
            message = {"type": "interactive", "interactive": {"type": kind, kind: {"id": reply_id, "title": "x"}}}
        else:
            message = {"type": "text", "text": {"body": step.text}}
        sent_at = time.time()
        deadline = time.perf_counter() + timeout
        ack = await self._post(message)
        replies: List[Dict[str, Any]] = []
        while expect is None or len(replies) < expect:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            wait = left if not replies or expect is not None else self.settle
            more = await self._wait(min(wait, 60.0))
            if not more and replies and expect is None:
                break  # quiet for `settle` seconds: the answer is complete
            replies += more
        if not replies or (expect is not None and len(replies) < expect):
            return ack, None
        with_choices = [choices_whatsapp(m["body"]) for m in replies]
        self.choices = next((c for c in reversed(with_choices) if c), [])
        self.last_texts = [text_whatsapp(m["body"]) + (f" [{len(c)} choices]" if c else "")
                           for m, c in zip(replies, with_choices)]
        self.received = len(replies)
        return ack, max(0.0, replies[-1]["time"] - sent_at)


class RestPatient:
    """One patient on stock Rasa's REST channel (the reply is the HTTP response)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, sender: str, settle: float) -> None:
        self.session, self.url, self.sender = session, url, sender
        self.choices: List[str] = []

    async def send(self, step: Step, timeout: float, expect: Optional[int] = None) -> Tuple[float, Optional[float]]:
        if step.payload or (step.choice is not None and step.choice < len(self.choices)):
            text = step.payload or self.choices[step.choice]
        else:
            text = step.text
        start = time.perf_counter()
        async with self.session.post(self.url, json={"sender": self.sender, "message": text},
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            replies = await resp.json()
        elapsed = time.perf_counter() - start
        if not replies:
            return elapsed, None
        with_choices = [[b["payload"] for b in m.get("buttons") or []] for m in replies]
        self.choices = next((c for c in reversed(with_choices) if c), [])
        self.last_texts = [(m.get("text") or "") + (f" [{len(c)} choices]" if c else "")
                           for m, c in zip(replies, with_choices)]
        return elapsed, elapsed


# ----- processes ----------------------------------------------------------------------------
class Processes:
    def __init__(self, work: Path, env: Dict[str, str]) -> None:
        self.work, self.env = work, env
        self.procs: Dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: List[str]) -> subprocess.Popen:
        log = self.work / f"{name}.log"
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def wait(self, name: str, url: str) -> None:
        wait_http(url, self.procs[name], self.work / f"{name}.log")

    def peak_memory_mb(self) -> Dict[str, Dict[str, float]]:
        """Per process (with its children), in MB: the peak resident set (VmHWM), and now the
        proportional set (PSS: shared library pages divided among the processes sharing them)
        and the private memory (anonymous pages: what one more such process would add)."""
        out = {}
        for name, proc in self.procs.items():
            peak = pss = anon = 0
            for pid in [proc.pid, *_children(proc.pid)]:
                try:
                    status = Path(f"/proc/{pid}/status").read_text().splitlines()
                    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                except OSError:
                    continue
                field = lambda lines, key: next((int(l.split()[1]) for l in lines if l.startswith(key + ":")), 0)  # noqa: E731,E741
                peak += field(status, "VmHWM")
                anon += field(status, "RssAnon")
                pss += field(rollup, "Pss")
            out[name] = {"peak_rss": round(peak / 1024), "pss": round(pss / 1024), "private": round(anon / 1024)}
        return out

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def cpu_seconds(procs: "Processes") -> Dict[str, float]:
    """CPU time (user + system) of every process on the machine so far, grouped: the stack's own
    processes by name, the services by program, this load generator, and the rest."""
    tick = os.sysconf("SC_CLK_TCK")
    owner = {}
    for name, proc in procs.procs.items():
        for pid in [proc.pid, *_children(proc.pid)]:
            owner[pid] = name
    groups: Dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / tick
        pid = int(entry.name)
        if pid in owner:
            group = owner[pid]
        elif pid == os.getpid():
            group = "load generator (this script)"
        elif comm.startswith("postgres"):
            group = "PostgreSQL"
        elif comm.startswith("redis"):
            group = "Redis"
        elif comm in ("beam.smp", "erl_child_setup", "epmd", "inet_gethost"):
            group = "RabbitMQ"
        else:
            group = "other"
        groups[group] = groups.get(group, 0.0) + used
    return groups


def _children(pid: int) -> List[int]:
    try:
        direct = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return direct + [g for c in direct for g in _children(c)]


def newest_model(folder: Path) -> Path:
    models = sorted(folder.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SystemExit(f"no model in {folder}: run `make train`")
    return models[-1]


def stock_config() -> Dict[str, Any]:
    """What `rasa init` writes, with what Rasa fills in for its empty `pipeline` and `policies`
    (its default_config.yml, as Rasa's auto-configuration does) and a fixed `assistant_id`.
    Left empty, Rasa writes its choices back into the file at every training (and a random
    assistant id at the first), which changed the file after the first fingerprint: the next
    `make bench` trained stock again (over 30 minutes)."""
    import rasa
    from rasa.engine.recipes import default_recipe

    config = yaml.safe_load((Path(rasa.__file__).parent / "cli" / "initial_project" / "config.yml").read_text())
    defaults = yaml.safe_load((Path(default_recipe.__file__).parent / "config_files" / "default_config.yml").read_text())
    config["assistant_id"] = "stock-rasa-bench"
    config["pipeline"], config["policies"] = defaults["pipeline"], defaults["policies"]
    return config


def train_stock() -> Path:
    """The same domain and data with the configuration `rasa init` writes (Rasa skips training
    when nothing changed since the last stock model)."""
    folder = WORK / "stock"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "config.yml").exists():
        (folder / "config.yml").write_text(yaml.safe_dump(stock_config(), sort_keys=False), encoding="utf-8")
    subprocess.run([str(BIN / "rasa"), "train", "--config", str(folder / "config.yml"), "--domain", "domain.yml",
                    "--data", "data", "--out", str(folder / "models"), "--num-threads", "2"],
                   cwd=ROOT, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return newest_model(folder / "models")


@dataclass
class Stack:
    name: str
    processes: Processes
    rasa_urls: List[str]           # for /model/parse
    patient: Any                   # factory(session, sender) -> patient
    rasa_process_names: List[str]
    whatsapp: bool = False
    expected: Dict[Tuple[str, int], List[int]] = field(default_factory=dict)


def start_ours(profile: str, workers: int, services: Dict[str, str]) -> Stack:
    work = WORK / "ours"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    action_port, standin_port, receiver_port = free_port(), free_port(), free_port()
    env = {**os.environ, **KEYS, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           "TELEHEALTH_PROFILE": profile, "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
           "WHATSAPP_VERIFY_TOKEN": SECRETS["verify_token"], "WHATSAPP_APP_SECRET": SECRETS["app_secret"],
           "RECEIVER_INTERNAL_TOKEN": SECRETS["internal_token"]}
    if profile == "production":
        env.update(services)
    else:
        env["DATABASE_URL"] = f"sqlite:///{work / 'app.db'}"
    endpoints = deploy.write_endpoints(work / "endpoints.yml", env)
    if profile == "embedded":  # the embedded tracker store, in the bench's own folder
        text = endpoints.read_text().replace("db: var/tracker.db", f"db: {work / 'tracker.db'}")
        endpoints.write_text(text)
    model = newest_model(ROOT / "models")
    ports = [free_port() for _ in range(workers)] if profile == "production" else [receiver_port]
    values = {**SECRETS, "api_url": f"http://127.0.0.1:{standin_port}/v21.0"}
    webhook = (f"http://127.0.0.1:{receiver_port}/webhooks/whatsapp/webhook")
    procs = Processes(work, env)
    procs.start("standin", [str(BIN / "python"), "-m", "telehealth.sandbox.standin", "--port", str(standin_port),
                            "--token", SECRETS["access_token"], "--app-secret", SECRETS["app_secret"],
                            "--phone-number-id", SECRETS["phone_number_id"], "--webhook-url", webhook])
    procs.start("actions", [str(BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(action_port)])
    names = []
    for i, port in enumerate(ports):
        creds = deploy.write_credentials(work / f"credentials-{i}.yml", values,
                                         *((i, workers) if profile == "production" else ()))
        names.append(f"rasa-{i}")
        procs.start(names[-1], [str(BIN / "rasa"), "run", "--enable-api", "--port", str(port), "--model", str(model),
                                "--endpoints", str(endpoints), "--credentials", str(creds)])
    procs.wait("actions", f"http://127.0.0.1:{action_port}/health")
    for name, port in zip(names, ports):
        procs.wait(name, f"http://127.0.0.1:{port}/status")
    if profile == "production":
        procs.start("receiver", [str(BIN / "python"), "-m", "telehealth.receiver", "--host", "127.0.0.1",
                                 "--port", str(receiver_port),
                                 "--workers", ",".join(f"http://127.0.0.1:{p}" for p in ports)])
        procs.wait("receiver", f"http://127.0.0.1:{receiver_port}/status")
    procs.wait("standin", f"http://127.0.0.1:{standin_port}/_sandbox/messages")
    standin = f"http://127.0.0.1:{standin_port}"

    def patient(session, sender, settle):
        return WhatsAppPatient(session, webhook, standin, sender, settle)

    return Stack(f"ours ({profile}, {len(ports)} Rasa process{'es' if len(ports) > 1 else ''})", procs,
                 [f"http://127.0.0.1:{p}" for p in ports], patient, names, whatsapp=True)


def start_stock(model: Path) -> Stack:
    work = WORK / "stock-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    action_port, rasa_port = free_port(), free_port()
    (work / "endpoints.yml").write_text(f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n")
    (work / "credentials.yml").write_text("rest:\n")
    env = {**os.environ, **KEYS, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           "DATABASE_URL": f"sqlite:///{work / 'app.db'}"}
    procs = Processes(work, env)
    procs.start("actions", [str(BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(action_port)])
    procs.start("rasa-0", [str(BIN / "rasa"), "run", "--enable-api", "--port", str(rasa_port), "--model", str(model),
                           "--endpoints", str(work / "endpoints.yml"), "--credentials", str(work / "credentials.yml")])
    procs.wait("actions", f"http://127.0.0.1:{action_port}/health")
    procs.wait("rasa-0", f"http://127.0.0.1:{rasa_port}/status")
    url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"

    def patient(session, sender, settle):
        return RestPatient(session, url, sender, settle)

    return Stack("stock Rasa (rasa init config, REST channel)", procs, [f"http://127.0.0.1:{rasa_port}"], patient,
                 ["rasa-0"])


# ----- phases -------------------------------------------------------------------------------
def full_label(parse: Dict[str, Any]) -> Optional[str]:
    intent = (parse.get("intent") or {}).get("name")
    if intent == "faq":
        # ours selects for the retrieval intent faq; stock's ResponseSelector (no retrieval_intent
        # set) is the "default" selector over all retrieval intents
        selectors = parse.get("response_selector") or {}
        selector = selectors.get("faq") or selectors.get("default") or {}
        return selector.get("response", {}).get("intent_response_key") or "faq"
    return intent


def nlu_accuracy(url: str) -> Dict[str, Any]:
    per_locale = {}
    total = correct = 0
    with requests.Session() as http:
        for locale in LOCALES:
            n = ok = 0
            for intent, texts in PHRASES[locale].items():
                for text in texts:
                    parse = http.post(f"{url}/model/parse", json={"text": text}, timeout=60).json()
                    n += 1
                    ok += full_label(parse) == intent
            per_locale[locale] = round(ok / n, 3)
            total, correct = total + n, correct + ok
    return {"overall": round(correct / total, 3), "phrases": total, "per_locale": per_locale}


async def run_patient(stack: Stack, session, tally: Tally, sender: str, locale: str, variant: int, settle: float,
                      think: float, stop_at: float, gate=None, counts: Optional[List[int]] = None) -> None:
    """One patient's conversation. ``counts`` (WhatsApp) is filled in when given empty: the
    number of messages each step got (the calibration run)."""
    patient = stack.patient(session, sender, settle)
    steps = conversation(locale, variant)
    expected = stack.expected.get((locale, variant)) if counts is None else None
    tally.conversations += 1
    for i, step in enumerate(steps):
        if time.perf_counter() >= stop_at:
            return
        if gate is not None:
            await gate.get()
        sent = step.payload or (f"choice {step.choice}" if step.choice is not None and step.choice < len(patient.choices)
                                else step.text)
        try:
            ack, latency = await patient.send(step, timeout=120, expect=expected[i] if expected else None)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            tally.error(exc)
            return
        if isinstance(patient, WhatsAppPatient):
            tally.acks.append(ack)
        if latency is None:
            tally.unanswered += 1
            return
        if counts is not None:
            counts.append(patient.received)
        tally.turn(time.perf_counter(), latency)
        if tally.trace is not None and tally.trace in (locale, "all"):
            print(f"    [{sender} {locale}] {sent!r:.40} -> "
                  + " | ".join(t[:70].replace("\n", " ") for t in getattr(patient, "last_texts", [])), flush=True)
        if i == 16 and any("1122" in t for t in getattr(patient, "last_texts", [])):
            tally.results_reached += 1
        if think:
            await asyncio.sleep(think)


async def calibrate(stack: Stack, run: str) -> None:
    """WhatsApp has no end-of-answer signal: run every distinct conversation once, unhurried
    (an answer is complete after 2 quiet seconds), and keep the number of messages each step
    gets; the measured runs then wait for exactly that many."""
    tally = Tally()
    jobs = [(locale, variant) for locale in LOCALES for variant in range(VARIANTS)]
    found: Dict[Tuple[str, int], List[int]] = {job: [] for job in jobs}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(
            run_patient(stack, session, tally, f"923{run}{i:04d}", locale, variant, 2.0, 0.0,
                        float("inf"), counts=found[(locale, variant)])
            for i, (locale, variant) in enumerate(jobs)))
    incomplete = [job for job, counts in found.items() if len(counts) != len(conversation(*job))]
    if incomplete or tally.errors:
        raise SystemExit(f"calibration failed for {incomplete} ({tally.errors}); see {stack.processes.work}")
    stack.expected.update(found)


async def closed_loop(stack: Stack, users: int, seconds: float, warmup: float, settle: float, think: float,
                      run: str, on_measuring=None) -> Tally:
    """`users` patients, each starting a new conversation when one ends."""
    tally = Tally(trace=TRACE)
    start = time.perf_counter()
    tally.window = (start + warmup, start + warmup + seconds)
    stop_at = tally.window[1]
    counter = iter(range(5000))  # senders n = 0, 1, ... of this run's block

    async def user(u: int) -> None:
        while time.perf_counter() < stop_at:
            n = next(counter)
            await run_patient(stack, session, tally, f"923{run}{n:04d}", LOCALES[n % len(LOCALES)],
                              (n // len(LOCALES)) % VARIANTS, settle, think, stop_at)

    async def measuring() -> None:
        await asyncio.sleep(warmup)
        if on_measuring is not None:
            on_measuring()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(measuring(), *(user(u) for u in range(users)))
    return tally


async def paced(stack: Stack, rate: float, seconds: float, warmup: float, settle: float, run: str) -> Tally:
    """Turns started at `rate` per second over a population of patients: each tick gives the
    next message to a patient who has had their answer (a new patient when none is waiting)."""
    tally = Tally()
    start = time.perf_counter()
    tally.window = (start + warmup, start + warmup + seconds)
    stop_at = tally.window[1]
    idle: asyncio.Queue = asyncio.Queue()
    tasks = []
    n = 5000  # senders apart from the closed loop's (which counts from 0) in this run's block
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        class Gate:
            """A patient's permission to send its next message: given by the ticker."""

            def __init__(self) -> None:
                self.q: asyncio.Queue = asyncio.Queue()

            async def get(self) -> None:
                idle.put_nowait(self)
                await self.q.get()

        i = 0
        while time.perf_counter() < stop_at:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            i += 1
            if idle.empty():
                gate = Gate()
                tasks.append(asyncio.create_task(run_patient(
                    stack, session, tally, f"923{run}{n:04d}", LOCALES[n % len(LOCALES)],
                    (n // len(LOCALES)) % VARIANTS, settle, 0.0, stop_at, gate)))
                n += 1
                await asyncio.sleep(0)
            if not idle.empty():
                idle.get_nowait().q.put_nowait(True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return tally


def summary(tally: Tally, seconds: float) -> Dict[str, Any]:
    lat = percentiles(tally.latencies)
    ack = percentiles(tally.acks)
    return {"turns": tally.turns, "turns_per_s": round(tally.turns / seconds, 2),
            "reply_ms": {k: round(v * 1000) for k, v in lat.items() if k != "n"},
            "ack_ms": {k: round(v * 1000, 1) for k, v in ack.items() if k != "n"},
            "unanswered": tally.unanswered, "errors": tally.errors, "conversations": tally.conversations,
            "symptom_results_reached": tally.results_reached}


def show(label: str, s: Dict[str, Any]) -> None:
    r, a = s["reply_ms"], s["ack_ms"]
    line = (f"  {label:<9} {s['turns_per_s']:7.2f} turns/s  reply p50 {r.get('p50', '-')} p95 {r.get('p95', '-')} "
            f"p99 {r.get('p99', '-')} ms")
    if a:
        line += f"  ack p50 {a['p50']} p99 {a['p99']} ms"
    line += f"  ({s['turns']} turns, {s['unanswered']} unanswered, errors {s['errors'] or 0})"
    print(line, flush=True)


def services_from_env() -> Dict[str, str]:
    return {"DATABASE_URL": os.environ.get("DATABASE_URL") or "postgresql+psycopg2://postgres@127.0.0.1:5432/test",
            "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            "RABBITMQ_URL": os.environ.get("RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672"}


def measure(stack: Stack, args, stock_rate: Optional[float]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"stack": stack.name}
    print(f"\n{stack.name}", flush=True)
    if not args.skip_nlu:
        out["nlu"] = nlu_accuracy(stack.rasa_urls[0])
        print(f"  NLU accuracy on {out['nlu']['phrases']} held-out phrases: {out['nlu']['overall']:.3f} "
              f"{out['nlu']['per_locale']}", flush=True)
    # Senders are valid Pakistani numbers (92 3xx xxxxxxx) new in every run: a mobile operator code
    # and a random block (a sender seen in an earlier run would go on with that conversation).
    rng = random.Random()
    run = f"{rng.randrange(30, 35)}{rng.randrange(1000):03d}"
    if stack.whatsapp:
        asyncio.run(calibrate(stack, f"{rng.randrange(30, 35)}{rng.randrange(1000):03d}"))
        print(f"  calibrated: {sum(map(len, stack.expected.values()))} steps of {len(stack.expected)} conversations",
              flush=True)
    before: Dict[str, float] = {}

    def mark_start() -> None:
        before.update(cpu_seconds(stack.processes))

    tally = asyncio.run(closed_loop(stack, args.users, args.seconds, args.warmup, args.settle, args.think, f"{run}",
                                    on_measuring=mark_start))
    after = cpu_seconds(stack.processes)
    out["sustained"] = summary(tally, args.seconds)
    out["cpu_ms_per_turn"] = {k: round((after[k] - before.get(k, 0.0)) * 1000 / max(tally.turns, 1), 1)
                              for k in sorted(after, key=lambda k: before.get(k, 0.0) - after[k])
                              if after[k] - before.get(k, 0.0) > 0.05}
    show("sustained", out["sustained"])
    print(f"  CPU ms per turn: {out['cpu_ms_per_turn']}", flush=True)
    if stock_rate or (args.rate and stack.whatsapp):
        rate = args.rate or args.ratio * stock_rate
        tally = asyncio.run(paced(stack, rate, args.seconds, args.warmup, args.settle, f"{run + 10}"))
        out["paced"] = {"offered_turns_per_s": round(rate, 2), **summary(tally, args.seconds)}
        show(f"at {rate:.0f}/s", out["paced"])
    out["memory_mb"] = stack.processes.peak_memory_mb()
    print(f"  peak memory (MB): {out['memory_mb']}", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", choices=("production", "embedded"), default="production")
    parser.add_argument("--workers", type=int, default=2, help="Rasa workers behind the receiver (production)")
    parser.add_argument("--users", type=int, default=32, help="patients in the closed loop")
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=10, help="seconds before measuring")
    parser.add_argument("--think", type=float, default=0.0, help="a patient's pause before the next message")
    parser.add_argument("--settle", type=float, default=0.3,
                        help="WhatsApp: the answer is complete when no message came for this long")
    parser.add_argument("--ratio", type=float, default=5.0, help="ours, paced at this multiple of stock's turns/s")
    parser.add_argument("--rate", type=float, help="ours, paced at this many turns/s (instead of --ratio)")
    parser.add_argument("--skip-nlu", action="store_true")
    parser.add_argument("--trace", help="print the turns of the conversations in this locale (or all)")
    parser.add_argument("--only", choices=("ours", "stock"))
    parser.add_argument("--stock-model", help="a stock model trained before from the same data (skips `rasa train`, "
                                              "which on ~9,500 examples takes over 30 minutes here)")
    args = parser.parse_args()
    global TRACE
    TRACE = args.trace
    WORK.mkdir(parents=True, exist_ok=True)
    report: Dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(),
                              "settings": vars(args)}
    stock_rate = None
    if args.only != "ours":
        if args.stock_model:
            model = Path(args.stock_model)
        else:
            print("Training stock Rasa (rasa init's config) if its data changed ...", flush=True)
            model = train_stock()
        stock = start_stock(model)
        try:
            report["stock"] = measure(stock, args, None)
        finally:
            stock.processes.stop()
        stock_rate = report["stock"]["sustained"]["turns_per_s"]
    if args.only != "stock":
        ours = start_ours(args.ours, args.workers, services_from_env())
        try:
            report["ours"] = measure(ours, args, stock_rate)
        finally:
            ours.processes.stop()
    if "stock" in report and "ours" in report:
        s, o = report["stock"], report["ours"]
        report["ratio_turns_per_s"] = round(o["sustained"]["turns_per_s"] / max(s["sustained"]["turns_per_s"], 1e-9), 2)
        print(f"\nours / stock sustained turns/s: {report['ratio_turns_per_s']}x (target >= 5x)")
        if "nlu" in s and "nlu" in o:
            print(f"NLU accuracy: ours {o['nlu']['overall']:.3f}, stock {s['nlu']['overall']:.3f}")
        if "paced" in o:
            p = o["paced"]
            print(f"ours at {p['offered_turns_per_s']} turns/s offered ({p['offered_turns_per_s'] / s['sustained']['turns_per_s']:.1f}x stock): "
                  f"{p['turns_per_s']} done/s, reply p95 {p['reply_ms'].get('p95')} ms (target <= 1000), "
                  f"ack p99 {p['ack_ms'].get('p99')} ms (target <= 50)")
        def largest(side):
            return max((v for k, v in side["memory_mb"].items() if k.startswith("rasa")), key=lambda v: v["peak_rss"])
        print(f"largest Rasa process (MB): ours {largest(o)}, stock {largest(s)} (target <= 1536)")
    (WORK / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"\nreport: {WORK / 'report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
