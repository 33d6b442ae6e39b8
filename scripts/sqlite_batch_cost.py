#!/usr/bin/env python3
"""What one intake batch costs SQLite itself, without the server around it.

Replays the statements the order writer sends for a batch of N new orders
(the repeat lookup, the names and subscriptions reads, the orders with
their search-index trigger, the first history rows, the `order.created`
events, the confirmation mail rows, in one transaction) against a copy of a
migrated database, and prints the CPU time per order (process time, so other load on the
machine does not count). Arguments leave parts
out, to see what each costs:

    nofts      drop the trigger that feeds the FTS5 search index
    nohistory  no first history rows
    noevents   no event rows
    nomail     no mail rows
    drop:IDX   drop index IDX first (e.g. drop:idx_orders_user_created)

Needs a SQLite at least as new as the one the server bundles (FTS5's
`contentless_delete`, 3.43+): `pip install pysqlite3-binary`. Make the
schema with the server's own migrations:

    DATABASE_URL='sqlite:///tmp/schema.sqlite?mode=rwc' \\
        target/release/order_fellow-cli db migrate
    scripts/sqlite_batch_cost.py /tmp/schema.sqlite [parts to leave out…]

Environment: N orders per batch (40), B batches measured (300), VARY=1 to
vary N between batches as the server's batches do (a new SQL text each
time, so the statements are compiled again).
"""

import json
import os
import shutil
import sys
import time
import uuid

import pysqlite3 as sqlite3

N = int(os.environ.get("N", 40))
B = int(os.environ.get("B", 300))
VARY = os.environ.get("VARY") == "1"
T = "2026-11-27 16:00:00.123456+00:00"


def open_copy(schema, leave_out):
    db = "/dev/shm/sqlite_batch_cost.sqlite"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    shutil.copy(schema, db)
    c = sqlite3.connect(db, isolation_level=None, cached_statements=512)
    # The server's writer: WAL, synchronous NORMAL, an 8 MB page cache.
    c.execute("pragma journal_mode=wal")
    c.execute("pragma synchronous=normal")
    c.execute("pragma cache_size=-8192")
    c.execute("pragma foreign_keys=on")
    c.execute(
        "insert into users(pid, email, password, full_name, company_name) "
        "values ('u1', 'a@example.com', 'x', 'n', 'Acme')"
    )
    for part in leave_out:
        if part.startswith("drop:"):
            c.execute("drop index " + part[5:])
        elif part == "nofts":
            c.execute("drop trigger orders_search_insert")
    return c


def values(rows, width):
    return ",".join(["(" + ",".join("?" * width) + ")"] * rows)


def batch(seq, n, leave_out):
    """The statements of one batch, as (sql, parameters)."""
    orders = []
    for i in range(n):
        ext = f"run1-{i:04}-{seq + i:09}"
        pid = f"0190{seq + i:028x}"  # time-ordered, as the server's v7 ids
        orders.append((
            T, T, pid, ext, None, "John Smith", f"john.smith.{ext}@example.com",
            "+2348123456789", f"iPhone 15 x2, Case x1 (ref {ext})", "12 Main St",
            "PENDING", 1,
        ))
    marks = ",".join("?" * n)
    out = [
        ("begin", []),
        (f"select * from orders where user_id = 1 and external_order_id in ({marks})",
         [o[3] for o in orders]),
        ("select user_id, business_name from kyc_applications where user_id in (1)", []),
        ("select id, user_id, event_types from event_endpoints "
         "where user_id in (1) and enabled order by id", []),
        ("insert into orders(created_at, updated_at, pid, external_order_id, "
         "idempotency_key, customer_name, customer_email, customer_phone, "
         "item_summary, address, tracking_status, user_id) values " + values(n, 12),
         [v for o in orders for v in o]),
    ]
    if "nohistory" not in leave_out:
        out.append((
            "insert into order_status_changes(order_id, to_status, source, created_at, "
            f"updated_at) select id, tracking_status, 'webhook', created_at, updated_at "
            f"from orders where pid in ({marks}) order by id",
            [o[2] for o in orders]))
    if "noevents" not in leave_out:
        events = []
        for o in orders:
            data = json.dumps({
                "order_id": o[2], "external_order_id": o[3], "status": "PENDING",
                "customer": {"name": o[5], "email": o[6], "phone": o[7]},
                "item_summary": o[8], "address": o[9], "created_at": T,
            })
            events.append(("evt_" + uuid.uuid4().hex, 1, "order.created", data, 1, None, T, T))
        out.append((
            "insert into events(event_id, user_id, event_type, data, occurred_at_ms, "
            "dedupe_key, created_at, updated_at) values " + values(n, 8)
            + " on conflict(dedupe_key) do nothing",
            [v for e in events for v in e]))
    if "nomail" not in leave_out:
        # The payload is AES-GCM ciphertext in hex, ~250 bytes of JSON.
        mails = [
            ("order_confirmation", o[6], os.urandom(266).hex() + "." + os.urandom(12).hex(),
             "pending", 0, T, None, None, None, f"order:{o[2]}:confirmation", T, T)
            for o in orders
        ]
        out.append((
            "insert into outbox_messages(template, recipient, payload, status, attempts, "
            "next_attempt_at, locked_until, last_error, sent_at, dedupe_key, created_at, "
            "updated_at) values " + values(n, 12) + " on conflict(dedupe_key) do nothing",
            [v for m in mails for v in m]))
    out.append(("commit", []))
    return out


def main():
    schema, leave_out = sys.argv[1], set(sys.argv[2:])
    c = open_copy(schema, leave_out)
    sizes = [(N // 2 + (i * 7) % N) if VARY else N for i in range(B + 20)]
    seq, batches = 0, []
    for n in sizes:
        batches.append(batch(seq, n, leave_out))
        seq += n
    for statements in batches[:20]:
        for sql, params in statements:
            c.execute(sql, params)
    started = time.process_time()
    for statements in batches[20:]:
        for sql, params in statements:
            c.execute(sql, params)
    seconds = time.process_time() - started
    orders = sum(sizes[20:])
    label = " ".join(sorted(leave_out)) or "everything"
    print(f"{label:40s} {seconds / orders * 1e6:6.1f} µs/order ({orders} orders)")


if __name__ == "__main__":
    main()
