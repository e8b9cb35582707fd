"""A small shop database with planted personal data, shared by the snapshot tests."""

from __future__ import annotations


import psycopg2

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"

# Planted personal values: none of these may appear in a snapshot file or a restored database.
PLANTED = {
    "email": "ada.lovelace.planted@corp-mail.com",
    "phone": "+1 415 555 0199",
    "ssn": "078-05-1120",
    "card": "4111 1111 1111 1111",
    "iban": "DE89370400440532013000",
    "json_email": "json.only.planted@corp-mail.com",
    "array_email": "array.only.planted@corp-mail.com",
    "text_email": "text.only.planted@corp-mail.com",
    "forgotten_email": "forgotten.planted@corp-mail.com",
    "ip": "203.0.113.77",
}

SHOP_SQL = """
CREATE TABLE customers (
    id serial PRIMARY KEY,
    email varchar(80) NOT NULL UNIQUE,
    full_name text,
    phone text,
    ssn text,
    iban text,
    card_number text,
    last_ip inet,
    profile jsonb,
    aliases text[],
    notes text,
    country text
);
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers(id),
    customer_email varchar(80) REFERENCES customers(email),
    amount numeric(10,2) NOT NULL,
    status text NOT NULL DEFAULT 'new',
    created_at timestamptz NOT NULL DEFAULT '2024-01-01'
);
CREATE INDEX ix_orders_customer ON orders(customer_id);
CREATE TABLE newsletter_signups (id serial PRIMARY KEY, contact text, signed_up date);
"""


def fill_shop(dsn: str, n: int = 300) -> None:
    p = PLANTED
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(SHOP_SQL)
        cur.execute("""
            INSERT INTO customers (email, full_name, phone, ssn, iban, card_number, last_ip, profile, aliases, notes, country)
            SELECT 'person' || g || '@corp-mail.com', 'Person Number' || g, '+1 212 555 ' || lpad(g::text, 4, '0'),
                   lpad(g::text, 3, '0') || '-12-' || lpad(g::text, 4, '0'), 'GB82WEST1234569876' || lpad(g::text, 4, '0'),
                   '4000 0000 0000 ' || lpad(g::text, 4, '0'), ('10.0.' || (g %% 250) || '.' || (g %% 200 + 1))::inet,
                   jsonb_build_object('email', 'p' || g || '@corp-mail.com', 'prefs', jsonb_build_object('lang', 'en'),
                                      'contacts', jsonb_build_array(jsonb_build_object('phone', '+1 646 555 ' || lpad(g::text, 4, '0')))),
                   ARRAY['alias' || g || '@corp-mail.com'], 'Customer asked to be called back.', 'US'
            FROM generate_series(1, %s) g""", (n,))
        cur.execute("""
            INSERT INTO customers (email, full_name, phone, ssn, iban, card_number, last_ip, profile, aliases, notes, country)
            VALUES (%(email)s, 'Ada Lovelace', %(phone)s, %(ssn)s, %(iban)s, %(card)s, %(ip)s,
                    jsonb_build_object('email', %(json_email)s::text, 'prefs', jsonb_build_object('lang', 'en')),
                    ARRAY[%(array_email)s::text], 'Please write to ' || %(text_email)s || ' after 5pm', 'UK')""", p)
        cur.execute("""
            INSERT INTO orders (customer_id, customer_email, amount, status)
            SELECT c.id, c.email, (g %% 97) + 0.5, CASE WHEN g %% 3 = 0 THEN 'shipped' ELSE 'new' END
            FROM generate_series(1, %s) g JOIN customers c ON c.id = (g %% %s) + 1""",
                    (3 * n, n + 1))
        cur.execute("INSERT INTO newsletter_signups (contact, signed_up) SELECT 'signup' || g || '@corp-mail.com', "
                    "'2024-02-01' FROM generate_series(1, 20) g")
        cur.execute("INSERT INTO newsletter_signups (contact, signed_up) VALUES (%s, '2024-03-01')",
                    (p["forgotten_email"],))


POLICY_YAML = """\
version: 1
locale: en_US
tables:
  public.customers:
    columns:
      id: keep
      email: fake:email
      full_name: fake:name
      phone: fake:phone
      ssn: {strategy: mask, keep_last: 0}
      iban: fake:iban
      card_number: fake:credit_card
      last_ip: fake:ipv4
      profile:
        strategy: json
        paths:
          $.email: fake:email
          $.contacts[*].phone: fake:phone
      aliases: fake:email
      notes: scrub
      country: {strategy: keep, acknowledge: true}
  orders:
    columns:
      id: keep
      customer_id: keep
      amount: keep
      status: keep
      created_at: keep
"""




def admin():
    conn = psycopg2.connect(ADMIN_DSN)
    conn.autocommit = True
    return conn
