# Generates examples/data/funnel.ndjson: 60 leads over January to June 2026
# walking the waterfall with deals, wins, losses, recycles and
# disqualifications. Deterministic (fixed seed).
import json, random, datetime as dt
random.seed(20260101)
start = dt.datetime(2026, 1, 5, 9, 0, 0)
sources = ["marketing", "marketing", "marketing", "sales", "partner"]
channels = ["email", "paid_search", "organic_search", "social", "events"]
campaigns = ["Spring Webinar", "Q1 Nurture", "Partner Day", None]
industries = ["software", "fintech", "retail", "manufacturing"]
out = []
n = 0
def ev(lead, at, body):
    global n
    n += 1
    out.append({"id": f"f-{n:05d}", "lead": lead, "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "body": body})
path = ["Inquiry", "MQL", "SAL", "SQL", "Opportunity"]
for i in range(60):
    lead = f"lead{i:02d}@example.test"
    t = start + dt.timedelta(days=random.randint(0, 140), hours=random.randint(0, 8))
    src = random.choice(sources)
    ch = random.choice(channels)
    camp = random.choice(campaigns)
    act = {"type": "activity", "kind": "page_view", "channel": ch, "attrs": {"url": "/pricing"}}
    if camp:
        act["campaign"] = camp
    ev(lead, t, act)
    t += dt.timedelta(hours=2)
    entry = "SQL" if src == "sales" else "Inquiry"
    ev(lead, t, {"type": "created", "stage": entry, "source": src, "actor": "sales" if src == "sales" else "marketing"})
    ev(lead, t + dt.timedelta(minutes=5), {"type": "attributes", "set": {"industry": random.choice(industries), "employees": random.choice([40, 200, 1200])}})
    stage = path.index(entry)
    cycle_recycled = False
    while True:
        t += dt.timedelta(days=random.randint(1, 12), hours=random.randint(0, 6))
        if random.random() < 0.6:
            # A touch on the way: another channel, often another campaign.
            kind, attrs = random.choice([("email_click", {"url": "/demo"}), ("webinar_attended", {"minutes": 45}), ("page_view", {"url": "/case-studies"})])
            touch = {"type": "activity", "kind": kind, "channel": random.choice(channels), "attrs": attrs}
            c = random.choice(campaigns)
            if c:
                touch["campaign"] = c
            ev(lead, t - dt.timedelta(hours=5), touch)
        r = random.random()
        if stage == len(path) - 1:
            if r < 0.55:
                ev(lead, t - dt.timedelta(days=1), {"type": "deal", "amount": f"{random.randint(80, 600) * 100}.00"})
                ev(lead, t, {"type": "advanced", "to": "Won", "actor": "sales"})
            else:
                ev(lead, t, {"type": "advanced", "to": "Lost", "actor": "sales", "reason": {"code": random.choice(["competitor", "no_budget", "timing"])}})
            break
        if r < 0.62:
            stage += 1
            if path[stage] == "Opportunity":
                ev(lead, t - dt.timedelta(hours=3), {"type": "deal", "amount": f"{random.randint(50, 500) * 100}.00"})
            ev(lead, t, {"type": "advanced", "to": path[stage], "actor": "sales" if stage >= 2 else "marketing"})
        elif r < 0.72 and not cycle_recycled and stage >= 1:
            ev(lead, t, {"type": "recycled", "actor": "sales", "reason": {"code": random.choice(["timing", "nurture", "no_authority"]), "note": "not now"}})
            cycle_recycled = True
            stage = -1
            t += dt.timedelta(days=random.randint(5, 20))
            stage = 0
            ev(lead, t, {"type": "advanced", "to": "Inquiry", "actor": "marketing"})
        elif r < 0.85 and stage <= 2:
            ev(lead, t, {"type": "advanced", "to": "Disqualified", "actor": "sales", "reason": {"code": random.choice(["poor_fit", "invalid_data", "duplicate"])}})
            break
        else:
            # Nothing happens for a while; the lead stays.
            if random.random() < 0.3:
                break
out.sort(key=lambda e: (e["at"], e["id"]))
with open("examples/data/funnel.ndjson", "w") as f:
    for e in out:
        f.write(json.dumps(e) + "\n")
print(len(out), "events")
# Kept for the record: the shipped file was made by this script (Python 3).
