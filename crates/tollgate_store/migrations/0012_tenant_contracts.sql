-- A tenant's recurring contracts (seed 003, phase 4): a subscription on its connected account.
-- 'pending' until Stripe has the subscription; then the subscription's status as Stripe reports
-- it. Amounts are minor units of the contract's currency.
CREATE TABLE tenant_contracts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    customer_id TEXT NOT NULL REFERENCES tenant_customers (id),
    description TEXT NOT NULL,
    currency TEXT NOT NULL,
    unit_amount BIGINT NOT NULL CHECK (unit_amount > 0),
    billing_interval TEXT NOT NULL CHECK (billing_interval IN ('month', 'year')),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    days_until_due BIGINT NOT NULL,
    ends_at BIGINT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'incomplete', 'incomplete_expired',
        'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')),
    application_fee_bps BIGINT NOT NULL,
    stripe_subscription_id TEXT UNIQUE,
    current_period_end BIGINT,
    cancel_at_period_end BIGINT NOT NULL DEFAULT 0,
    paid_through BIGINT,
    synced_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tenant_contracts_created_idx ON tenant_contracts (tenant_id, created_at, id);

-- A contract's invoices are tenant invoices too, made when Stripe first reports them.
ALTER TABLE tenant_invoices ADD COLUMN contract_id TEXT REFERENCES tenant_contracts (id);

-- Test mode: the test clock on the tenant's connected account that its customers live on.
ALTER TABLE tenants ADD COLUMN test_clock TEXT;
