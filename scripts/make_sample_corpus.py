"""Generate examples/sample.jsonl, the small corpus the quick start runs on.

Run once; the output is committed. It is deterministic (fixed seed, no
third-party generators) so re-running it reproduces the file byte for byte.
Everything personal in it is fictitious: names from small hand-made lists,
phone numbers in the 555-01xx range reserved for fiction, test card numbers,
documentation IP ranges and reserved example domains.

What it plants, for each stage to find:
* exact duplicates (same text, new id) for exact dedup;
* near duplicates (a few words changed or a sentence added) for near dedup;
* a long boilerplate footer repeated across many documents for exact-substring removal;
* fake PII: names, emails, phones, cards, SSNs, IBANs, IPs, street addresses;
* clinical-style notes carrying markers earlier de-identification left
  (MIMIC ``___`` and ``[**...**]``, ``<PERSON>``, ``[REDACTED]``, ...);
* bad records of every kind validation quarantines.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

SEED = 20261125
OUT = Path(__file__).resolve().parent.parent / "examples" / "sample.jsonl"

FIRST = ["Maria", "James", "Aiko", "Olusegun", "Priya", "Lars", "Elena", "Tomasz", "Grace", "Mateo", "Nadia",
         "Samuel", "Ingrid", "Kwame", "Lucia", "Hiroshi", "Fatima", "Owen", "Chloe", "Rafael"]
LAST = ["Okafor", "Lindqvist", "Tanaka", "Moreau", "Castellanos", "Novak", "Hargreaves", "Iyer", "Brennan",
        "Kowalczyk", "Delgado", "Fairweather", "Nakamura", "Abernathy", "Silva", "Whitfield"]
STREETS = ["Maple Avenue", "Harbor Street", "Elm Court", "Juniper Lane", "Beacon Road", "Willow Drive"]
CITIES = [("Springfield", "IL", "62704"), ("Riverton", "WY", "82501"), ("Fairview", "OR", "97024"),
          ("Lakeside", "CA", "92040"), ("Georgetown", "TX", "78626")]
CARDS = ["4111 1111 1111 1111", "5500 0000 0000 0004", "3400 0000 0000 009", "6011 0000 0000 0004"]
IBANS = ["GB82 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0130 00", "FR14 2004 1010 0505 0001 3M02 606"]

TOPICS = {
    "gardening": ["Tomatoes need at least six hours of direct sun and steady watering.",
                  "Mulch keeps the soil cool and holds moisture through dry weeks.",
                  "Prune roses in late winter, just before the buds begin to swell.",
                  "Compost made from leaves and kitchen scraps feeds the beds for a whole season.",
                  "Raised beds drain quickly and warm up earlier in the spring."],
    "networking": ["A router forwards packets between networks using its routing table.",
                   "The three-way handshake opens a TCP connection before any data flows.",
                   "DNS resolvers cache answers for the time-to-live set by the zone.",
                   "Congestion control slows a sender when the path starts dropping packets.",
                   "Subnet masks split an address into a network part and a host part."],
    "cooking": ["Toast the spices in a dry pan until they smell nutty.",
                "Rest the dough for an hour so the gluten can relax.",
                "A pinch of salt brings out the sweetness in caramel.",
                "Deglaze the pan with stock and scrape up the browned bits.",
                "Slow braising turns tough cuts of meat tender."],
    "history": ["The canal opened in 1825 and cut freight costs by ninety percent.",
                "Printing spread quickly once movable type reached the trading cities.",
                "The treaty redrew borders that had stood for two centuries.",
                "Railways standardized time zones across the continent.",
                "The library survived the fire because its archive sat underground."],
    "astronomy": ["Jupiter's moons were the first objects seen orbiting another planet.",
                  "A light-year measures distance, not time.",
                  "Neutron stars pack more mass than the Sun into a city-sized sphere.",
                  "The Moon always shows the same face because it is tidally locked.",
                  "Comets grow tails only when sunlight warms their ice."],
}
FOOTER = ("This newsletter is distributed to members of the Riverside Community Association. You may share it "
          "with neighbours, but please do not republish it without permission. To stop receiving it, reply with "
          "the word UNSUBSCRIBE and we will remove your address within one week.")


def person(rng: random.Random) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, state, zip_code = rng.choice(CITIES)
    return {
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}@example.{rng.choice(['com', 'org', 'net'])}",
        "phone": f"(555) 01{rng.randint(0, 99):02d}-{rng.randint(1000, 9999)}",
        "address": f"{rng.randint(10, 9899)} {rng.choice(STREETS)}, {city}, {state} {zip_code}",
        "ssn": f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        "card": rng.choice(CARDS),
        "iban": rng.choice(IBANS),
        "ip": f"192.0.2.{rng.randint(1, 254)}",
    }


VARIATION = ["usually", "often", "in practice", "as a rule", "by most accounts", "in our experience", "reportedly",
             "at least here", "this year", "in the north", "in small towns", "for beginners", "in theory", "again",
             "quite clearly", "at first", "on balance", "in most cases", "for now", "as noted", "in short", "indeed"]


def varied(rng: random.Random, sentence: str) -> str:
    """A template sentence with two qualifiers spliced in, so documents share no long verbatim runs by chance."""
    words = sentence.split(" ")
    for _ in range(2):
        words.insert(rng.randint(1, len(words) - 1), rng.choice(VARIATION) + ",")
    return " ".join(words)


def paragraph(rng: random.Random, topic: str, sentences: int) -> str:
    return " ".join(varied(rng, rng.choice(TOPICS[topic])) for _ in range(sentences))


def pii_note(rng: random.Random) -> str:
    p = person(rng)
    templates = [
        f"Please contact {p['name']} at {p['email']} or call {p['phone']} about the order.",
        f"Ship the parcel to {p['name']}, {p['address']}. Billing card on file: {p['card']}.",
        f"New hire {p['name']} (SSN {p['ssn']}) starts Monday; payroll account {p['iban']}.",
        f"Login alert: {p['name']} signed in from {p['ip']} and changed the recovery email to {p['email']}.",
        f"Dear {p['name']}, your appointment is confirmed. Reach us at {p['phone']} if anything changes.",
    ]
    return rng.choice(templates)


NOTE_TEMPLATES = [
    "INDICATION: ___ year old {sex} with {finding}. COMPARISON: Chest radiograph from ___. FINDINGS: {finding} "
    "is unchanged. Swan-___ catheter tip projects over the right atrium. IMPRESSION: Stable. Dr. ___ was "
    "notified at ___:{minute}.",
    "Patient [**First Name (Titles) {n1}**] [**Last Name (NamePattern1) {n2}**] was admitted on [**2151-{m}-{d}**] "
    "to [**Hospital1 {n3}**] with {finding}. Call [**Telephone/Fax (1) {n4}**] with questions.",
    "Discharge summary for <PERSON>, seen at <LOCATION> on <DATE_TIME>. Contact <EMAIL_ADDRESS> for records. "
    "Follow-up with {finding} clinic in two weeks.",
    "Per the family, [REDACTED] reported {finding} since [DATE]. SSN on file: XXX-XX-XXXX. The patient ***** "
    "declined further imaging.",
    "Nursing note: {{{{name}}}} tolerated the procedure; {finding} improved. Reach |||PHONE_NUMBER||| overnight.",
]
FINDINGS = ["a small left pleural effusion", "mild cardiomegaly", "bibasilar atelectasis", "a right lower lobe opacity",
            "pulmonary vascular congestion", "a healing rib fracture"]


def clinical_note(rng: random.Random) -> str:
    template = rng.choice(NOTE_TEMPLATES)
    return template.format(
        sex=rng.choice(["man", "woman"]), finding=rng.choice(FINDINGS), minute=f"{rng.randint(0, 59):02d}",
        n1=rng.randint(1, 99), n2=rng.randint(100, 9999), n3=rng.randint(1, 99), n4=rng.randint(100, 999),
        m=rng.randint(1, 12), d=rng.randint(1, 28),
    )


def documents(rng: random.Random) -> list[dict]:
    docs = []
    topics = sorted(TOPICS)
    for i in range(260):
        topic = topics[i % len(topics)]
        parts = [paragraph(rng, topic, rng.randint(4, 9)) for _ in range(rng.randint(1, 3))]
        if i % 4 == 0:
            parts.insert(rng.randint(0, len(parts)), pii_note(rng))
        if i % 7 == 0:
            parts.append(FOOTER)
        docs.append({"id": f"doc-{i:04d}", "text": "\n\n".join(parts), "source": "sample", "topic": topic})
    for i in range(30):
        docs.append({"id": f"note-{i:03d}", "text": clinical_note(rng), "source": "clinic", "topic": "clinical"})
    # exact duplicates: same text, new ids
    for n, original in enumerate(rng.sample(docs[:200], 20)):
        docs.append({"id": f"dup-{n:03d}", "text": original["text"], "source": "mirror", "topic": original["topic"]})
    # near duplicates: a sentence appended or one word swapped
    for n, original in enumerate(rng.sample(docs[:200], 15)):
        words = original["text"].split(" ")
        if n % 2:
            words[rng.randrange(len(words))] = "notably"
            text = " ".join(words)
        else:
            text = original["text"] + " Updated for this edition."
        docs.append({"id": f"near-{n:03d}", "text": text, "source": "mirror", "topic": original["topic"]})
    rng.shuffle(docs)
    return docs


def bad_lines() -> list[bytes]:
    """One line per quarantine reason that a JSONL file can produce."""
    return [
        b'{"id": "bad-json", "text": "an unterminated string}',
        b'["a", "json", "array"]',
        b'{"id": "bad-no-text", "title": "no text field here"}',
        b'{"id": "bad-number", "text": 42}',
        b'{"id": "bad-empty", "text": "   \\n\\t "}',
        b'{"id": "bad-utf8", "text": "caf\xc3\x28 latin-1 bytes \xe9"}',
        b'{"id": "bad-surrogate", "text": "lone \\ud800 surrogate"}',
        b'{"id": {"nested": true}, "text": "an id that is an object"}',
        b'{"id": "doc-0001", "text": "a second record that reuses an id already in the corpus"}',
    ]


def main() -> int:
    rng = random.Random(SEED)
    lines = [json.dumps(doc, ensure_ascii=False).encode() for doc in documents(rng)]
    for offset, bad in enumerate(bad_lines()):
        lines.insert(25 + offset * 29, bad)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_bytes(b"\n".join(lines) + b"\n")
    print(f"wrote {len(lines)} lines to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
