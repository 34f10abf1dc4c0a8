-- A tenant's customers and one-off invoices, billed on its connected account (seed 003). Every
-- row carries tenant_id and every statement filters on it. Invoice amounts are minor units of
-- the invoice's currency; amounts_* are read from the charge's balance transaction once paid.
CREATE TABLE tenant_customers (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    email TEXT NOT NULL,
    name TEXT,
    stripe_customer_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX tenant_customers_email_key ON tenant_customers (tenant_id, lower(email));
CREATE INDEX tenant_customers_created_idx ON tenant_customers (tenant_id, created_at, id);

CREATE TABLE tenant_invoices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    customer_id TEXT NOT NULL REFERENCES tenant_customers (id),
    currency TEXT NOT NULL,
    lines TEXT NOT NULL,
    total BIGINT NOT NULL CHECK (total > 0),
    days_until_due BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    application_fee BIGINT,
    stripe_invoice_id TEXT UNIQUE,
    pay_url TEXT,
    amount_gross BIGINT,
    amount_stripe_fee BIGINT,
    amount_application_fee BIGINT,
    amount_net BIGINT,
    failure TEXT,
    -- The payment that paid it, for refunds.
    payment_intent TEXT,
    synced_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tenant_invoices_created_idx ON tenant_invoices (tenant_id, created_at, id);

-- Refunds of a paid tenant invoice, admitted in the transaction that checks what remains.
CREATE TABLE tenant_refunds (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    invoice_id TEXT NOT NULL REFERENCES tenant_invoices (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    refund_application_fee BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    stripe_refund_id TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tenant_refunds_invoice_idx ON tenant_refunds (tenant_id, invoice_id);
