"""The fictional world of the sample exports: Robin Vale, the people Robin talks to, how each
of them writes, and when they talk.

Every text is drawn from template tables that are expanded once at import, so drawing a
message costs a few list picks. Robin's voice is deliberately distinctive (lowercase starts,
no final period, "haha"/"tbh"/"ngl", "!!", "...", 😅 🙌 ✨) so a model trained on Robin's
side of the conversations has a real style signal to learn; every partner writes differently.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import math
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from random import Random

BASE_TS = calendar.timegm((2023, 1, 2, 9, 0, 0))  # Mon 2 Jan 2023 09:00 UTC, every timeline starts here

ME_NAME = "Robin Vale"
ME_SHORT = "Robin"
ME_USERNAME = "robin.vale_"
ME_EMAILS = ("robin.vale@gmail.com", "robin@valeworks.example")
ME_PHONE = "+44 7700 900456"
ME_NAMES = (ME_NAME, ME_SHORT, ME_USERNAME)

# Identifiers planted in message texts so redaction can be tested downstream.
PII = {
    "phone_us": "+1 415 555 0134",
    "card": "4111 1111 1111 1111",  # Luhn-valid test card
    "iban": "GB82 WEST 1234 5698 7654 32",
}

_SLOTS: dict[str, tuple[str, ...]] = {
    "place": (
        "the pub",
        "the gym",
        "work",
        "the market",
        "brighton",
        "the station",
        "that new ramen place",
        "the park",
        "my mum's",
        "the office",
        "the climbing wall",
        "the cinema",
        "the beach",
        "ikea",
    ),
    "food": ("pizza", "snacks", "the cake", "dumplings", "wine", "crisps", "tacos", "coffee", "bagels"),
    "when": (
        "tonight",
        "tomorrow",
        "on saturday",
        "later",
        "next week",
        "this weekend",
        "after work",
        "at 7",
        "on friday",
        "in a bit",
    ),
    "thing": ("playlist", "photos", "recipe", "slides", "tickets", "link", "video", "notes", "plan", "pics"),
    "person": ("sam", "priya", "alex", "my sister", "the landlord", "jamie", "lukas", "my boss"),
    "mins": ("5", "10", "15", "20", "like 30"),
    # formal English
    "When": (
        "tomorrow morning",
        "on Thursday",
        "next Monday",
        "this afternoon",
        "later this week",
        "on the 14th",
        "after lunch",
    ),
    "Thing": (
        "contract",
        "agenda",
        "quarterly report",
        "invoice",
        "draft proposal",
        "meeting notes",
        "budget",
        "schedule",
    ),
    "Place": ("the office", "the station", "reception", "the café on King Street", "the conference room"),
    "Time": ("9:30", "10 o'clock", "half past two", "four", "noon"),
    # German
    "zeit": ("morgen", "heute Abend", "am Wochenende", "nächste Woche", "um 18 Uhr", "übermorgen", "später"),
    "ding": ("den neuen Film", "das Foto", "die Nachricht", "den Plan", "die Wohnung", "das Konzert"),
    "tag": ("morgen", "Freitag", "Samstag", "später", "bald", "Sonntag"),
}


def _expand(templates: Sequence[str]) -> tuple[str, ...]:
    """Every filling of every template, in a fixed order (no sets, so output is deterministic)."""
    out: list[str] = []
    fmt = string.Formatter()
    for t in templates:
        names = [f for _, f, _, _ in fmt.parse(t) if f]
        if not names:
            out.append(t)
            continue
        for combo in itertools.product(*(_SLOTS[n] for n in names)):
            out.append(t.format(**dict(zip(names, combo))))
    return tuple(out)


@dataclass(frozen=True)
class Voice:
    """How one person writes: a message is [opener] body [+ body] [closer], or a short reply."""

    bodies: tuple[str, ...]
    openers: tuple[str, ...] = ()
    closers: tuple[str, ...] = ("",)
    shorts: tuple[str, ...] = ()
    pii: tuple[str, ...] = ()
    p_open: float = 0.0
    p_more: float = 0.0  # a second sentence
    p_multiline: float = 0.0  # the second part goes on its own line
    p_short: float = 0.0
    joiner: str = " "

    def text(self, r) -> str:
        """One message; `r` is a bound Random.random (picks are index arithmetic for speed)."""
        if self.shorts and r() < self.p_short:
            s = self.shorts
            return s[int(r() * len(s))]
        b = self.bodies
        msg = b[int(r() * len(b))]
        if r() < self.p_open:
            o = self.openers
            msg = o[int(r() * len(o))] + " " + msg
        if r() < self.p_more:
            sep = "\n" if r() < self.p_multiline else self.joiner
            msg = msg + sep + b[int(r() * len(b))]
        c = self.closers
        return msg + c[int(r() * len(c))]

    def pii_text(self, r) -> str:
        p = self.pii
        return p[int(r() * len(p))]


ROBIN = Voice(
    bodies=_expand(
        (
            "cant make it {when} sorry",
            "just got back from {place}",
            "are we still on for {when}",
            "the {thing} was so good",
            "ill bring {food}",
            "running like {mins} mins late",
            "did u see what {person} posted",
            "send me the {thing} when u can",
            "omw",
            "ok im here",
            "wait what",
            "no way",
            "thats actually so funny",
            "love that for u",
            "can we do {when} instead",
            "im so tired today",
            "literally just woke up",
            "sounds good to me",
            "yes pls",
            "i owe u one",
            "miss u guys",
            "need {food} asap",
            "what time does {place} close",
            "ok so update on the flat",
            "this week has been a lot",
            "thats wild",
            "im obsessed with this {thing}",
            "whos coming {when}",
            "soz only just seen this",
            "brb",
            "ill check and let u know",
            "thats so kind of u",
            "going to {place} {when} if u wanna come",
            "{person} is being so weird about it",
            "cant stop thinking about {food}",
            "i'll sort the {thing} {when}",
            "u around {when}",
            "lowkey want {food} rn",
            "still at {place}",
            "just seen ur message",
            "ok that makes sense",
        )
    ),
    openers=(
        "haha",
        "hahaha",
        "omg",
        "ngl",
        "tbh",
        "ok so",
        "wait",
        "lol",
        "yesss",
        "ahh",
        "honestly",
        "right so",
        "oh no",
        "hmm",
        "ooh",
    ),
    closers=(
        "",
        "",
        "",
        " haha",
        " tbh",
        " ngl",
        "!!",
        "...",
        " 😅",
        " 🙌",
        " ✨",
        " lol",
        " x",
        "!! 🙌",
        " 😅😅",
        "... haha",
        " ✨✨",
        " haha 😅",
    ),
    shorts=(
        "haha",
        "hahaha",
        "yesss",
        "omg",
        "ngl same",
        "tbh yeah",
        "ok!!",
        "nooo",
        "✨",
        "🙌",
        "haha yes",
        "omg yes!!",
        "lol",
        "same tbh",
        "ok ok",
        "aw x",
    ),
    pii=(
        f"my email is {ME_EMAILS[0]} btw",
        f"card is {PII['card']} exp 12/26 dont judge haha",
        f"iban is {PII['iban']} for the deposit ✨",
        f"call me on {ME_PHONE} if ur lost",
        "heres the link https://valeworks.example/portfolio ✨",
        f"work email is {ME_EMAILS[1]} tbh",
        f"sams number is {PII['phone_us']} i think",
    ),
    p_open=0.35,
    p_more=0.22,
    p_multiline=0.35,
    p_short=0.18,
)

_FORMAL = _expand(
    (
        "Good morning, Robin.",
        "I have sent the {Thing} to you by email.",
        "Thank you for letting me know.",
        "Could we meet {When} instead?",
        "I will be at {Place} at {Time}.",
        "Please let me know if that works for you.",
        "That sounds excellent. I look forward to it.",
        "I am afraid I cannot attend {When}.",
        "Apologies for the delay in replying.",
        "I have reviewed the {Thing} and added a few comments.",
        "Would you be available for a short call {When}?",
        "Many thanks for your help.",
        "Understood. I will arrange it.",
        "The {Thing} is ready for your review.",
        "I shall confirm the details {When}.",
        "Is the {Thing} still due {When}?",
    )
)

PARTNER_VOICES: dict[str, Voice] = {
    "formal": Voice(
        bodies=_FORMAL,
        openers=("Hello Robin.", "Hi Robin,", "Good afternoon.", "Dear Robin,"),
        closers=("", "", "", " Kind regards, Alex.", " Best wishes."),
        pii=(
            f"You can reach me on {PII['phone_us']}.",
            "Please email me at alex.morgan@example.com.",
            "The booking details are at https://example.com/booking/48213.",
        ),
        p_open=0.3,
        p_more=0.55,
    ),
    "emoji": Voice(
        bodies=_expand(
            (
                "OMG yes",
                "Can't wait",
                "This is amazing",
                "Happy birthday!!",
                "So proud of you",
                "Sending love",
                "Same here",
                "That's hilarious",
                "Let's goooo",
                "Coffee {when}?",
                "Look at this",
                "Just landed",
                "Miss you!!",
                "Yay",
                "Good luck today",
                "Obsessed",
            )
        ),
        closers=(
            " 😍😍",
            " 🎉🎉🎉",
            " 💕✨",
            " 😂😂😂",
            " 👩‍💻",
            " 🏳️‍🌈💖",
            " 🥳🥳",
            " 🙈",
            " ❤️❤️",
            " 🔥🔥",
            " 😘",
            " 🤩🤩🤩",
            " 🌸🌸",
        ),
        shorts=("😂😂😂", "❤️", "🥺🥺", "🎉", "😍", "👏👏👏"),
        pii=("my new email is priya.shah@example.org 💕", "call me on +44 7700 900321 📞"),
        p_more=0.25,
        p_short=0.15,
    ),
    "german": Voice(
        bodies=_expand(
            (
                "Wie geht's dir?",
                "Ich komme {zeit} vorbei.",
                "Kein Problem, bis {tag}!",
                "Hast du {ding} schon gesehen?",
                "Das klingt super.",
                "Ich bin gerade im Zug.",
                "Schöne Grüße aus München!",
                "Können wir {zeit} telefonieren?",
                "Danke dir, das ist sehr lieb.",
                "Ich hab's vergessen, sorry!",
                "Wann passt es dir am besten?",
                "Bin in 10 Minuten da.",
                "Alles klar, machen wir so.",
                "Das Wetter ist heute furchtbar.",
                "Freust du dich schon?",
            )
        ),
        openers=("Hallo Robin!", "Hey!", "Also,", "Na?"),
        closers=("", "", " 😊", " 👍"),
        pii=("Meine Nummer ist +49 151 23456789.", "Schreib mir an lukas.becker@example.de."),
        p_open=0.25,
        p_more=0.4,
    ),
    "georgian": Voice(
        bodies=(
            "გამარჯობა! როგორ ხარ?",
            "კარგად ვარ, შენ?",
            "ხვალ შევხვდეთ?",
            "დიდი მადლობა!",
            "ძალიან მაგარია",
            "სახლში ვარ",
            "ცოტა დავიგვიანებ",
            "ვნახოთ",
            "გილოცავ!",
            "რა კარგია",
            "ახლავე მოვდივარ",
            "კარგი, შევთანხმდით",
        )
        + _expand(("See you at {place}!", "That's great news!", "I'm at home now.", "How was {place}?")),
        closers=("", "", " ❤️", " 😊"),
        pii=("ჩემი ნომერი: +995 555 12 34 56",),
        p_more=0.2,
    ),
    "russian": Voice(
        bodies=(
            "Привет! Как дела?",
            "Давай завтра?",
            "Спасибо, всё отлично",
            "Я уже еду",
            "Окей, договорились",
            "Сколько стоит?",
            "Позвони, когда сможешь",
            "Хорошо, увидимся",
            "С днём рождения!",
            "Не могу сегодня, извини",
        )
        + _expand(("Sounds good, see you then", "Ok, I'm outside", "How was {place}?", "Send me the {thing}")),
        closers=("", "", ")", ")))", " 👍"),
        pii=("Мой email: d.volkov@example.ru",),
        p_more=0.2,
    ),
    "mate": Voice(
        bodies=_expand(
            (
                "Yeah sounds good",
                "Cheers for that",
                "Nah I'm alright",
                "Classic",
                "What time you thinking?",
                "Pub {when}?",
                "Did you watch the match?",
                "On my way now",
                "Fair enough",
                "Can't believe {person} said that",
                "Sound, see you at {place}",
                "You free {when}?",
                "That's mental",
                "Go on then",
                "Legend",
                "Bring {food}?",
            )
        ),
        openers=("Haha", "Mate", "Yeah", "Oi"),
        closers=("", "", " mate", " 👍", " lol"),
        shorts=("Ha", "Legend", "Nice one", "👍", "Yep", "Go on"),
        pii=(f"Here's my mate's number {PII['phone_us']}", "sam.okafor@example.com is my new email"),
        p_open=0.2,
        p_more=0.2,
        p_short=0.15,
    ),
    "gen_z": Voice(
        bodies=_expand(
            (
                "LMAO",
                "fr fr",
                "nooo way",
                "this is so me",
                "WHY is this so accurate",
                "sending u this rn",
                "we need to go to {place}",
                "I'm screaming",
                "ok but the {thing} tho",
                "not {person} doing that again",
                "crying at this",
            )
        ),
        closers=("", " 😭", " 💀", " 😭😭", " lmao"),
        pii=("insta is jamie.chen on here but email jamie.c@example.com",),
        p_more=0.15,
    ),
    "spanish": Voice(
        bodies=_expand(
            (
                "¡Qué bien!",
                "jajaja me encanta",
                "Vale, nos vemos",
                "Besos",
                "¿Vienes?",
                "Estoy cansadísima",
                "Mañana te llamo",
                "¡Feliz cumpleaños!",
                "omg yes",
                "see you at {place}",
                "¿Qué tal {place}?",
            )
        ),
        closers=("", " 💃", " 😘", " jajaja"),
        pii=("Mi correo es zoe.nunez@example.es",),
        p_more=0.25,
    ),
    "landlord": Voice(
        bodies=_expand(
            (
                "Hi Robin, this is Mark from Harbour Lettings.",
                "The plumber will come by {When}.",
                "Could you confirm a time that suits?",
                "Thanks, noted.",
                "The inspection is booked for {When}.",
                "Please leave the keys with reception.",
            )
        ),
        closers=("", " Thanks", " Regards, Mark"),
        pii=("Rent goes to GB33 BUKB 2020 1555 5555 55 as usual.",),
        p_more=0.3,
    ),
    "stranger": Voice(
        bodies=(
            "Hey! Saw your post about the half marathon",
            "Are you still selling the bike?",
            "Would love to collab on something",
            "No worries if not!",
            "Is this Robin from Valeworks?",
        ),
        closers=("", " :)", " 🙂"),
        pii=("my email is taylor.brooks@example.net",),
        p_more=0.2,
    ),
}


@dataclass(frozen=True)
class Person:
    key: str
    name: str  # display name (non-ASCII where the person is)
    voice: Voice
    email: str = ""
    utc_offset: int | None = None  # fixed mail-client zone in seconds; None follows UK time (+1h: EU)


PEOPLE: dict[str, Person] = {
    p.key: p
    for p in (
        Person("alex", "Alex Morgan", PARTNER_VOICES["formal"], "alex.morgan@example.com", -8 * 3600),
        Person("priya", "Priya Shah", PARTNER_VOICES["emoji"], "priya.shah@example.org"),
        Person("lukas", "Lukas Becker", PARTNER_VOICES["german"], "lukas.becker@example.de", 3600),
        Person("nino", "ნინო ბერიძე", PARTNER_VOICES["georgian"], "nino.beridze@example.ge", 4 * 3600),
        Person("dmitri", "Дмитрий Волков", PARTNER_VOICES["russian"], "d.volkov@example.ru", 3 * 3600),
        Person("sam", "Sam Okafor", PARTNER_VOICES["mate"], "sam.okafor@example.com"),
        Person("jamie", "Jamie Chen", PARTNER_VOICES["gen_z"], "jamie.c@example.com"),
        Person("zoe", "Zoë Ñúñez", PARTNER_VOICES["spanish"], "zoe.nunez@example.es", 3600),
        Person("mark", "+44 7700 900781", PARTNER_VOICES["landlord"]),  # unsaved contact: shown as a number
        Person("taylor", "Taylor Brooks", PARTNER_VOICES["stranger"], "taylor.brooks@example.net"),
    )
}


# --- clock -------------------------------------------------------------------------------------


def _uk_summer_spans() -> list[int]:
    """UTC instants where UK summer time starts/ends (last Sunday of Mar/Oct, 01:00 UTC), 2000-2099.

    The EU switches at the same instants, so Berlin is always UK + 1h. Hand-rolled so output does
    not depend on the machine's tz database.
    """
    edges = []
    for year in range(2000, 2100):
        for month in (3, 10):
            last = calendar.monthrange(year, month)[1]
            day = last - (calendar.weekday(year, month, last) + 1) % 7
            edges.append(calendar.timegm((year, month, day, 1, 0, 0)))
    return edges


_EDGES = _uk_summer_spans()


def uk_offset(ts: float) -> int:
    """Europe/London UTC offset in seconds at epoch `ts`."""
    return 3600 if bisect.bisect_right(_EDGES, ts) % 2 else 0


# --- timeline ----------------------------------------------------------------------------------

_MEAN_STEP = 0.55 * (15 + 900 / 4) + 0.45 * (3 + 30)  # mean seconds between messages in a session
_MIN_GAP = 1800.0
_NIGHT = 0.1 * 6 * 3600  # mean cost of moving the sessions that fall at night into the day


def timeline(
    rng: Random, n: int, weights: Sequence[float], newest_first: bool = False, start: int = BASE_TS
) -> Iterator[tuple[int, int]]:
    """Yield n (epoch_ms, speaker index) pairs: sessions of a dozen or more messages with bursts
    from one speaker (seconds apart), replies minutes apart, sessions hours to days apart.

    Session length and gaps are sized so a chat spans about `span` (a month to 3 years, growing
    with n): a very busy chat gets longer sessions rather than a decade of history. With
    newest_first the same process runs backwards from the end, so Meta files (newest first) stream.
    """
    r = rng.random
    span = min(max(n * 900, 30 * 86400), 3 * 365 * 86400)
    chat_time = _MEAN_STEP * n  # time spent inside sessions
    session_len = max(12.0, n * (_MIN_GAP + _NIGHT) / max(span - chat_time, 0.1 * span))
    sessions = max(1.0, n / session_len)
    session_gap = max(_MIN_GAP, (span - chat_time) / sessions - _NIGHT)
    max_left = int(2 * session_len) - 1
    speakers = [i for i, w in enumerate(weights) if w > 0]
    cum = list(itertools.accumulate(weights[i] for i in speakers))
    total = cum[-1]

    def pick_other(cur: int) -> int:
        if len(speakers) == 1:
            return cur
        if len(speakers) == 2:
            return speakers[0] if cur == speakers[1] else speakers[1]
        while True:
            s = speakers[bisect.bisect_right(cum, r() * total)]
            if s != cur:
                return s

    sign = -1.0 if newest_first else 1.0
    t = float(start + span) if newest_first else float(start)
    t += sign * r() * 600
    cur = speakers[bisect.bisect_right(cum, r() * total)]
    left = 1 + int(r() * max_left)
    for _ in range(n):
        yield int(t * 1000), cur
        left -= 1
        if left <= 0:
            gap = session_gap * (0.2 + 1.6 * r())
            hour = ((t + sign * gap) % 86400) / 3600
            if 1 <= hour < 7:  # nobody chats at 4am: push the session into the day
                gap += 6 * 3600
            left = 1 + int(r() * max_left)
            cur = speakers[bisect.bisect_right(cum, r() * total)]
        elif r() < 0.55:
            cur = pick_other(cur)
            gap = 15 + 900 * r() ** 3  # mostly quick replies, now and then a long pause
        else:
            gap = 3 + 60 * r()  # same speaker, a burst
        t += sign * gap


def split(n: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split n into len(weights) integers proportional to weights (largest remainder), then lift
    small shares to `minimum` by taking from the largest share while it can spare them."""
    total = sum(weights)
    raw = [n * w / total for w in weights]
    out = [math.floor(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))
    for i in order[: n - sum(out)]:
        out[i] += 1
    for i in range(len(out)):
        while out[i] < minimum and weights[i] > 0:
            big = max(range(len(out)), key=lambda j: (out[j], -j))
            if out[big] <= minimum:
                break
            out[big] -= 1
            out[i] += 1
    return out
