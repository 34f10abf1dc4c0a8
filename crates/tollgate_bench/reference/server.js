// The reference server of issue 4, rebuilt to be measured beside tollgate on the same machine
// at the same time (docs/benchmarks.md): Node and Express with Stripe's official library, which
// verifies each delivery and parses its event, then writes the event and the user's status in
// one transaction, to SQLite (better-sqlite3) or PostgreSQL (pg). Not part of tollgate.
'use strict';

const express = require('express');
const Stripe = require('stripe');

const secret = process.env.STRIPE_WEBHOOK_SECRET;
const databaseUrl = process.env.DATABASE_URL || '';
if (!secret || !databaseUrl) {
  console.error('STRIPE_WEBHOOK_SECRET and DATABASE_URL are required');
  process.exit(2);
}
// Only webhooks.constructEvent is used: it never calls Stripe.
const stripe = new Stripe('sk_test_reference_never_used');

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, type TEXT NOT NULL,
     created BIGINT NOT NULL, payload TEXT NOT NULL, received_at BIGINT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS users (customer TEXT PRIMARY KEY, status TEXT NOT NULL,
     paid_at BIGINT)`,
];
const INSERT_EVENT = `INSERT INTO events (id, type, created, payload, received_at)
  VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`;
const UPSERT_USER = `INSERT INTO users (customer, status, paid_at) VALUES ($1, 'paid', $2)
  ON CONFLICT (customer) DO UPDATE SET status = 'paid', paid_at = excluded.paid_at`;

// Resolves to whether the event was new; one transaction for both writes.
function sqliteStore(path) {
  const Database = require('better-sqlite3');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  for (const statement of SCHEMA) db.exec(statement);
  const positional = (sql) => db.prepare(sql.replace(/\$\d/g, '?'));
  const insertEvent = positional(INSERT_EVENT);
  const upsertUser = positional(UPSERT_USER);
  const record = db.transaction((event, payload, customer, now) => {
    const fresh = insertEvent.run(event.id, event.type, event.created, payload, now).changes === 1;
    if (fresh && customer) upsertUser.run(customer, now);
    return fresh;
  });
  return async (...args) => record(...args);
}

function postgresStore(url) {
  const { Pool } = require('pg');
  const pool = new Pool({ connectionString: url, max: 10 });
  const ready = (async () => {
    for (const statement of SCHEMA) await pool.query(statement);
  })();
  return async (event, payload, customer, now) => {
    await ready;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const inserted = await client.query(INSERT_EVENT, [
        event.id, event.type, event.created, payload, now,
      ]);
      const fresh = inserted.rowCount === 1;
      if (fresh && customer) await client.query(UPSERT_USER, [customer, now]);
      await client.query('COMMIT');
      return fresh;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  };
}

const record = databaseUrl.startsWith('postgres')
  ? postgresStore(databaseUrl)
  : sqliteStore(databaseUrl.replace(/^sqlite:\/\//, '').replace(/\?.*$/, ''));

const app = express();
app.post(
  ['/api/v1/stripe/webhook', '/api/stripe/webhook'],
  express.raw({ type: 'application/json', limit: '1mb' }),
  async (req, res) => {
    let event;
    try {
      event = stripe.webhooks.constructEvent(req.body, req.headers['stripe-signature'], secret);
    } catch (error) {
      return res.status(400).json({ error: 'signature_invalid' });
    }
    try {
      const customer = event.data && event.data.object && event.data.object.customer;
      const fresh = await record(event, req.body.toString('utf8'), customer, Date.now());
      res.json({ received: true, duplicate: !fresh });
    } catch (error) {
      console.error('cannot store', event.id, error.message);
      res.status(503).json({ error: 'unavailable' });
    }
  },
);

const server = app.listen(0, '127.0.0.1', () => {
  console.log(`reference listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
