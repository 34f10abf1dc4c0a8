-- The admin console (issue 6): mentors and their assignments (seed 000), and one billing row
-- per member that the members table filters and sorts on.
-- member_billing is derived, never a source of truth: Store::apply_sync rewrites a member's
-- row in the same transaction as their subscription or invoice, from the rules in
-- tollgate_core::member::MemberBilling; `SqlStore::migrate` fills it for existing members.

CREATE TABLE mentors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX mentors_name_key ON mentors (lower(name));

CREATE TABLE mentor_assignments (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    mentor_id TEXT NOT NULL REFERENCES mentors (id) ON DELETE CASCADE,
    assigned_at BIGINT NOT NULL,
    assigned_by TEXT
);
CREATE INDEX mentor_assignments_mentor_idx ON mentor_assignments (mentor_id);

CREATE TABLE member_billing (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    payment_status TEXT NOT NULL
        CHECK (payment_status IN ('preapproved', 'paid', 'payment_failed', 'cancelled')),
    plan_id TEXT,
    payment_date BIGINT,
    current_period_end BIGINT,
    cancel_at_period_end BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- The status filter and the payment-date sort of the members table.
CREATE INDEX member_billing_status_idx ON member_billing (payment_status, user_id);
CREATE INDEX member_billing_payment_date_idx ON member_billing (payment_date);
-- The overview counts subscriptions by status and by when they started.
CREATE INDEX subscriptions_created_idx ON subscriptions (created_at);
CREATE INDEX invoices_paid_idx ON invoices (paid_at) WHERE status = 'paid';
