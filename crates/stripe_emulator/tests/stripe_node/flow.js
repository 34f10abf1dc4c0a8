// Drives the emulator with Stripe's official Node library (stripe-node); exits non-zero on any mismatch and
// prints "ok" last when every step passed.
//
// Usage: node flow.js <emulator base url>   (with `stripe` resolvable, e.g. through NODE_PATH)
'use strict';

const assert = require('node:assert/strict');
const Stripe = require('stripe');

const base = new URL(process.argv[2]);
const stripe = new Stripe('sk_test_node', {
  host: base.hostname,
  port: Number(base.port),
  protocol: 'http',
  maxNetworkRetries: 0,
  telemetry: false,
});

let step = 'start';

// Posts a hosted page's form (checkout, onboarding) without following the redirect: its target is not a real host.
async function postForm(url, fields) {
  const resp = await fetch(url, {
    method: 'POST',
    body: new URLSearchParams(fields),
    redirect: 'manual',
  });
  return { status: resp.status, location: resp.headers.get('location'), text: await resp.text() };
}

// Awaits `promise` and asserts that it rejects with the stripe-node error class `type`; returns the error.
async function rejects(promise, type) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof Stripe.errors[type], `${step}: expected ${type}, got ${e && e.type}: ${e && e.message}`);
    assert.equal(e.type, type);
    return e;
  }
  assert.fail(`${step}: expected ${type}, but the call succeeded`);
}

async function customersAndCatalog() {
  step = 'customers';
  const customer = await stripe.customers.create({ email: 'node@example.com', metadata: { userId: 'n1' } });
  assert.match(customer.id, /^cus_/);
  const updated = await stripe.customers.update(customer.id, { name: 'Node Buyer' });
  assert.equal(updated.name, 'Node Buyer');
  assert.equal((await stripe.customers.retrieve(customer.id)).email, 'node@example.com');
  const found = await stripe.customers.search({ query: "metadata['userId']:'n1'" });
  assert.deepEqual(found.data.map((c) => c.id), [customer.id]);
  const listed = [];
  for await (const c of stripe.customers.list({ limit: 1 })) listed.push(c.id);
  assert.deepEqual(listed, [customer.id], 'auto-pagination walks the list');

  step = 'products and prices';
  const product = await stripe.products.create({ name: 'Pro' });
  const price = await stripe.prices.create({
    product: product.id,
    unit_amount: 4900,
    currency: 'usd',
    recurring: { interval: 'month' },
    lookup_key: 'pro_node',
  });
  assert.equal(price.recurring.interval, 'month');
  assert.equal((await stripe.prices.list({ lookup_keys: ['pro_node'] })).data[0].id, price.id);
  const oneOff = await stripe.prices.create({ product: product.id, unit_amount: 1500, currency: 'usd' });
  assert.equal((await stripe.products.update(product.id, { description: 'All of it' })).description, 'All of it');
  const scratch = await stripe.products.create({ name: 'Scratch' });
  assert.equal((await stripe.products.del(scratch.id)).deleted, true);
  return { customer, product, price, oneOff };
}

async function checkout({ customer, price, oneOff }) {
  step = 'checkout (subscription)';
  const params = {
    mode: 'subscription',
    customer: customer.id,
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: 'https://app.test/ok?cs={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://app.test/cancel',
    subscription_data: { metadata: { userId: 'n1' } },
  };
  const session = await stripe.checkout.sessions.create(params, { idempotencyKey: 'node-session-1' });
  const again = await stripe.checkout.sessions.create(params, { idempotencyKey: 'node-session-1' });
  assert.equal(again.id, session.id, 'an idempotent replay returns the first session');
  const paid = await postForm(session.url, { action: 'pay', card_number: '4242424242424242' });
  assert.equal(paid.status, 303, paid.text);
  assert.equal(paid.location, `https://app.test/ok?cs=${session.id}`);
  const done = await stripe.checkout.sessions.retrieve(session.id, { expand: ['subscription', 'line_items'] });
  assert.equal(done.status, 'complete');
  assert.equal(done.payment_status, 'paid');
  assert.equal(done.line_items.data[0].price.id, price.id);
  const sub = done.subscription;
  assert.equal(sub.status, 'active');
  assert.equal(sub.metadata.userId, 'n1');
  assert.ok(sub.items.data[0].current_period_end > sub.items.data[0].current_period_start);
  const items = await stripe.checkout.sessions.listLineItems(session.id);
  assert.equal(items.data[0].amount_total, 4900);

  step = 'checkout (payment)';
  const pay = await stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [{ price: oneOff.id, quantity: 2 }],
    success_url: 'https://app.test/ok',
    cancel_url: 'https://app.test/cancel',
  });
  assert.equal(pay.amount_total, 3000);
  const card = await postForm(pay.url, { action: 'pay', card_number: '4242424242424242', email: 'one@example.com' });
  assert.equal(card.status, 303, card.text);
  const complete = await stripe.checkout.sessions.retrieve(pay.id, { expand: ['payment_intent'] });
  assert.equal(complete.payment_intent.status, 'succeeded');
  const unpaid = await stripe.checkout.sessions.create({ ...params, customer: undefined, customer_email: 'x@example.com' });
  assert.equal((await stripe.checkout.sessions.expire(unpaid.id)).status, 'expired');
  return sub;
}

async function subscriptions({ customer, price }, sub) {
  step = 'subscriptions';
  const invoice = await stripe.invoices.retrieve(sub.latest_invoice);
  assert.equal(invoice.parent.subscription_details.subscription, sub.id);
  assert.equal(invoice.amount_paid, 4900);
  const atEnd = await stripe.subscriptions.update(sub.id, { cancel_at_period_end: true });
  assert.equal(atEnd.cancel_at_period_end, true);
  const listed = await stripe.subscriptions.list({ customer: customer.id });
  assert.deepEqual(listed.data.map((s) => s.id), [sub.id]);
  const canceled = await stripe.subscriptions.cancel(sub.id);
  assert.equal(canceled.status, 'canceled');

  const second = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id }],
    default_payment_method: 'pm_card_visa',
  });
  assert.equal(second.status, 'active', JSON.stringify(second));
  assert.equal((await stripe.subscriptions.retrieve(second.id)).id, second.id);
  await stripe.subscriptions.cancel(second.id);
}

async function payments() {
  step = 'payment intents';
  const pi = await stripe.paymentIntents.create({
    amount: 3000,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    confirm: true,
    metadata: { order: 'o1' },
  });
  assert.equal(pi.status, 'succeeded');
  const later = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd' });
  assert.equal(later.status, 'requires_payment_method');
  const confirmed = await stripe.paymentIntents.confirm(later.id, { payment_method: 'pm_card_mastercard' });
  assert.equal(confirmed.status, 'succeeded');
  const dropped = await stripe.paymentIntents.create({ amount: 500, currency: 'usd' });
  assert.equal((await stripe.paymentIntents.cancel(dropped.id)).status, 'canceled');
  const declined = await rejects(
    stripe.paymentIntents.create({
      amount: 3000,
      currency: 'usd',
      payment_method: 'pm_card_chargeDeclinedExpiredCard',
      confirm: true,
    }),
    'StripeCardError',
  );
  assert.equal(declined.code, 'expired_card');
  assert.equal(declined.statusCode, 402);

  step = 'refunds';
  const refund = await stripe.refunds.create({ payment_intent: pi.id, amount: 1000 });
  assert.equal(refund.amount, 1000);
  assert.equal(refund.status, 'succeeded');
  const charge = await stripe.charges.retrieve(pi.latest_charge);
  assert.equal(charge.amount_refunded, 1000);
  assert.equal((await stripe.refunds.list({ charge: charge.id })).data[0].id, refund.id);
  const tagged = await stripe.refunds.update(refund.id, { metadata: { why: 'test' } });
  assert.equal(tagged.metadata.why, 'test');
  assert.equal((await stripe.charges.list({ limit: 100 })).data.some((c) => c.id === charge.id), true);
}

async function invoicing({ customer }) {
  step = 'invoice items and invoices';
  const item = await stripe.invoiceItems.create({
    customer: customer.id,
    amount: 5000,
    currency: 'usd',
    description: 'Onboarding audit',
  });
  assert.equal(item.amount, 5000);
  const preview = await stripe.invoices.createPreview({ customer: customer.id });
  assert.equal(preview.amount_due, 5000);
  const draft = await stripe.invoices.create({ customer: customer.id, pending_invoice_items_behavior: 'include' });
  assert.equal(draft.status, 'draft');
  assert.equal(draft.amount_due, 5000);
  const lines = await stripe.invoices.listLineItems(draft.id);
  assert.equal(lines.data[0].amount, 5000);
  const open = await stripe.invoices.finalizeInvoice(draft.id);
  assert.equal(open.status, 'open');
  assert.match(open.hosted_invoice_url, /^http/);
  const paid = await stripe.invoices.pay(open.id, { payment_method: 'pm_card_visa' });
  assert.equal(paid.status, 'paid');
  assert.equal(paid.amount_paid, 5000);

  await stripe.invoiceItems.create({ customer: customer.id, amount: 700, currency: 'usd' });
  const other = await stripe.invoices.create({
    customer: customer.id,
    pending_invoice_items_behavior: 'include',
    collection_method: 'send_invoice',
    days_until_due: 30,
  });
  await stripe.invoices.finalizeInvoice(other.id);
  const sent = await stripe.invoices.sendInvoice(other.id);
  assert.equal(sent.status, 'open');
  const voided = await stripe.invoices.voidInvoice(other.id);
  assert.equal(voided.status, 'void');
  await rejects(stripe.invoices.pay(other.id), 'StripeInvalidRequestError');

  const empty = await stripe.invoices.create({ customer: customer.id });
  assert.equal((await stripe.invoices.del(empty.id)).deleted, true);
  const spare = await stripe.invoiceItems.create({ customer: customer.id, amount: 100, currency: 'usd' });
  assert.equal((await stripe.invoiceItems.del(spare.id)).deleted, true);
  const listed = await stripe.invoices.list({ customer: customer.id, status: 'paid' });
  assert.ok(listed.data.some((i) => i.id === paid.id));
}

async function paymentMethods({ customer }) {
  step = 'payment methods';
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } });
  assert.equal(pm.customer, null);
  assert.equal(pm.card.last4, '4242');
  await stripe.paymentMethods.attach(pm.id, { customer: customer.id });
  const withDefault = await stripe.customers.update(customer.id, {
    invoice_settings: { default_payment_method: pm.id },
  });
  assert.equal(withDefault.invoice_settings.default_payment_method, pm.id);
  const listed = await stripe.paymentMethods.list({ customer: customer.id, type: 'card' });
  assert.ok(listed.data.some((m) => m.id === pm.id));
  const ofCustomer = await stripe.customers.listPaymentMethods(customer.id);
  assert.ok(ofCustomer.data.some((m) => m.id === pm.id));
  assert.equal((await stripe.paymentMethods.retrieve(pm.id)).customer, customer.id);
  const detached = await stripe.paymentMethods.detach(pm.id);
  assert.equal(detached.customer, null);

  step = 'setup intents';
  const si = await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_visa', confirm: true });
  assert.equal(si.status, 'succeeded');
  assert.equal((await stripe.paymentMethods.retrieve(si.payment_method)).customer, customer.id);
  const pending = await stripe.setupIntents.create({ customer: customer.id });
  assert.equal(pending.status, 'requires_payment_method');
  const failed = await rejects(
    stripe.setupIntents.confirm(pending.id, { payment_method: 'pm_card_chargeDeclined' }),
    'StripeCardError',
  );
  assert.equal(failed.code, 'card_declined');
  const again = await stripe.setupIntents.retrieve(pending.id);
  assert.equal(again.last_setup_error.code, 'card_declined');
  assert.equal((await stripe.setupIntents.cancel(pending.id)).status, 'canceled');
  assert.ok((await stripe.setupIntents.list({ customer: customer.id })).data.length >= 2);
}

async function connect() {
  step = 'connect: accounts and onboarding';
  const account = await stripe.accounts.create({
    type: 'express',
    email: 'tenant@example.com',
    business_profile: { name: 'Node Tenant' },
    capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
  });
  assert.match(account.id, /^acct_/);
  assert.equal(account.charges_enabled, false);
  const link = await stripe.accountLinks.create({
    account: account.id,
    type: 'account_onboarding',
    refresh_url: 'https://platform.test/refresh',
    return_url: 'https://platform.test/return',
  });
  assert.equal(link.object, 'account_link');
  const page = await fetch(link.url);
  assert.equal(page.status, 200, 'the onboarding page opens');
  const onboarded = await postForm(link.url, { action: 'complete' });
  assert.equal(onboarded.status, 303, onboarded.text);
  assert.equal(onboarded.location, 'https://platform.test/return');
  const ready = await stripe.accounts.retrieve(account.id);
  assert.equal(ready.charges_enabled, true);
  assert.equal(ready.payouts_enabled, true);
  assert.equal(ready.details_submitted, true);
  const acct = { stripeAccount: account.id };
  assert.ok((await stripe.accounts.list({ limit: 100 })).data.some((a) => a.id === account.id));

  step = 'connect: direct charge';
  const direct = await stripe.paymentIntents.create(
    { amount: 10000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, application_fee_amount: 250 },
    acct,
  );
  assert.equal(direct.status, 'succeeded');
  assert.equal(direct.application_fee_amount, 250);
  const directCharge = await stripe.charges.retrieve(direct.latest_charge, {}, acct);
  step = 'connect: direct charge balance transaction';
  const txn = await stripe.balanceTransactions.retrieve(directCharge.balance_transaction, {}, acct);
  assert.equal(txn.net, 9430, 'Stripe takes 2.9% + 30 and the platform its 250');
  await rejects(stripe.charges.retrieve(direct.latest_charge), 'StripeInvalidRequestError');

  step = 'connect: application fees';
  const fees = await stripe.applicationFees.list({ limit: 10 });
  const fee = fees.data.find((f) => f.charge === directCharge.id);
  assert.ok(fee, 'the direct charge has an application fee');
  assert.equal(fee.amount, 250);
  assert.equal(fee.account, account.id);
  assert.equal((await stripe.applicationFees.retrieve(fee.id)).id, fee.id);
  const feeRefund = await stripe.applicationFees.createRefund(fee.id, { amount: 100 });
  assert.equal(feeRefund.object, 'fee_refund');
  assert.equal(feeRefund.amount, 100);
  const feeRefunds = await stripe.applicationFees.listRefunds(fee.id);
  assert.deepEqual(feeRefunds.data.map((r) => r.id), [feeRefund.id]);
  assert.equal((await stripe.applicationFees.retrieve(fee.id)).amount_refunded, 100);

  step = 'connect: destination charge';
  const dest = await stripe.paymentIntents.create({
    amount: 10000,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    confirm: true,
    application_fee_amount: 1000,
    transfer_data: { destination: account.id },
  });
  assert.equal(dest.status, 'succeeded');
  const destCharge = await stripe.charges.retrieve(dest.latest_charge);
  const destTransfer = await stripe.transfers.retrieve(destCharge.transfer);
  assert.equal(destTransfer.destination, account.id);
  assert.equal(destTransfer.amount, 10000);
  assert.equal(destTransfer.source_transaction, destCharge.id);

  step = 'connect: transfers and reversals';
  await stripe.paymentIntents.create({ amount: 5000, currency: 'usd', payment_method: 'pm_card_bypassPending', confirm: true });
  const transfer = await stripe.transfers.create({ amount: 2000, currency: 'usd', destination: account.id });
  assert.equal(transfer.object, 'transfer');
  const reversal = await stripe.transfers.createReversal(transfer.id, { amount: 500 });
  assert.equal(reversal.object, 'transfer_reversal');
  assert.equal(reversal.amount, 500);
  assert.deepEqual((await stripe.transfers.listReversals(transfer.id)).data.map((r) => r.id), [reversal.id]);
  assert.equal((await stripe.transfers.retrieve(transfer.id)).amount_reversed, 500);
  const toAccount = await stripe.transfers.list({ destination: account.id });
  assert.equal(toAccount.data.length, 2);
  const broke = await rejects(
    stripe.transfers.create({ amount: 100000000, currency: 'usd', destination: account.id }),
    'StripeInvalidRequestError',
  );
  assert.equal(broke.code, 'balance_insufficient');

  step = 'connect: balance';
  const balance = await stripe.balance.retrieve({}, acct);
  assert.equal(balance.object, 'balance');
  const held = balance.pending.concat(balance.available).reduce((sum, b) => sum + b.amount, 0);
  assert.equal(held, 9430 + 100 + 9000 + 1500, 'direct charge, its refunded fee, destination charge less its fee, the transfer less its reversal');
  const txns = await stripe.balanceTransactions.list({ limit: 100 }, acct);
  assert.ok(txns.data.some((t) => t.id === directCharge.balance_transaction));
  const payouts = await stripe.payouts.list({}, acct);
  assert.equal(payouts.object, 'list');
  const platform = await stripe.balance.retrieve();
  assert.equal(platform.object, 'balance');

  step = 'connect: deletion';
  const deleted = await stripe.accounts.del(account.id);
  assert.equal(deleted.deleted, true);
  const gone = await rejects(stripe.customers.list({}, acct), 'StripePermissionError');
  assert.equal(gone.code, 'account_invalid');
  assert.equal(gone.statusCode, 403);
}

async function errorsAndEvents() {
  step = 'errors';
  const missing = await rejects(stripe.customers.retrieve('cus_missing'), 'StripeInvalidRequestError');
  assert.equal(missing.code, 'resource_missing');
  assert.equal(missing.statusCode, 404);
  assert.match(missing.requestId, /^req_/);
  const bad = await rejects(new Stripe('pk_test_nope', { host: base.hostname, port: Number(base.port), protocol: 'http' }).customers.list(), 'StripeAuthenticationError');
  assert.equal(bad.statusCode, 401);

  step = 'events';
  const completed = await stripe.events.list({ type: 'checkout.session.completed' });
  assert.equal(completed.data.length, 2);
  const event = await stripe.events.retrieve(completed.data[0].id);
  assert.equal(event.data.object.object, 'checkout.session');
}

(async () => {
  const catalog = await customersAndCatalog();
  const sub = await checkout(catalog);
  await subscriptions(catalog, sub);
  await payments();
  await invoicing(catalog);
  await paymentMethods(catalog);
  await connect();
  await errorsAndEvents();
  console.log('ok');
})().catch((e) => {
  console.error(`stripe-node flow failed at "${step}":`);
  console.error(e && e.raw ? JSON.stringify(e.raw, null, 2) : e);
  console.error(e && e.stack);
  process.exit(1);
});
