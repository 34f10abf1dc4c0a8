"""Drives the emulator with Stripe's official Python library (stripe-python); exits non-zero on any mismatch.

Usage: python3 flow.py <emulator base url>
"""
import http.client
import sys
import urllib.parse

import stripe

base = sys.argv[1]
stripe.api_key = "sk_test_python"
stripe.api_base = base
stripe.max_network_retries = 0


def post_form(url, fields):
    """Posts the hosted checkout form without following the redirect (success_url is not a real host)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    conn.request("POST", parts.path, urllib.parse.urlencode(fields), {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    return resp.status, resp.getheader("Location")


product = stripe.Product.create(name="Pro")
price = stripe.Price.create(product=product.id, unit_amount=4900, currency="usd", recurring={"interval": "month"}, lookup_key="pro_py")
assert stripe.Price.list(lookup_keys=["pro_py"]).data[0].id == price.id
customer = stripe.Customer.create(email="py@example.com", metadata={"userId": "py1"})
found = stripe.Customer.search(query="metadata['userId']:'py1'")
assert [c.id for c in found.data] == [customer.id], found

session = stripe.checkout.Session.create(
    mode="subscription",
    customer=customer.id,
    line_items=[{"price": price.id, "quantity": 1}],
    success_url="https://app.test/ok?cs={CHECKOUT_SESSION_ID}",
    cancel_url="https://app.test/cancel",
    subscription_data={"metadata": {"userId": "py1"}},
    idempotency_key="py-session-1",
)
again = stripe.checkout.Session.create(
    mode="subscription",
    customer=customer.id,
    line_items=[{"price": price.id, "quantity": 1}],
    success_url="https://app.test/ok?cs={CHECKOUT_SESSION_ID}",
    cancel_url="https://app.test/cancel",
    subscription_data={"metadata": {"userId": "py1"}},
    idempotency_key="py-session-1",
)
assert again.id == session.id, "idempotent replay"
status, location = post_form(session.url, {"action": "pay", "card_number": "4242424242424242"})
assert status == 303 and location == f"https://app.test/ok?cs={session.id}", (status, location)

done = stripe.checkout.Session.retrieve(session.id, expand=["subscription", "line_items"])
assert done.status == "complete" and done.payment_status == "paid"
sub = done.subscription
assert sub.status == "active" and sub.metadata["userId"] == "py1"
assert sub["items"].data[0].current_period_end > sub["items"].data[0].current_period_start
invoice = stripe.Invoice.retrieve(sub.latest_invoice)
assert invoice.parent.subscription_details.subscription == sub.id
assert invoice.amount_paid == 4900

updated = stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
assert updated.cancel_at_period_end is True
canceled = stripe.Subscription.cancel(sub.id)
assert canceled.status == "canceled"

pi = stripe.PaymentIntent.create(amount=3000, currency="usd", payment_method="pm_card_visa", confirm=True)
assert pi.status == "succeeded"
refund = stripe.Refund.create(payment_intent=pi.id, amount=1000)
assert refund.amount == 1000
assert stripe.Charge.retrieve(pi.latest_charge).amount_refunded == 1000

try:
    stripe.PaymentIntent.create(amount=3000, currency="usd", payment_method="pm_card_chargeDeclinedExpiredCard", confirm=True)
    raise AssertionError("a declined card must raise")
except stripe.error.CardError as e:
    assert e.code == "expired_card", e.code
    assert e.http_status == 402

try:
    stripe.Customer.retrieve("cus_missing")
    raise AssertionError("a missing customer must raise")
except stripe.error.InvalidRequestError as e:
    assert e.http_status == 404 and e.code == "resource_missing"

events = stripe.Event.list(type="checkout.session.completed")
assert events.data[0].data.object.id == session.id

page = stripe.Customer.list(limit=1)
assert page.has_more is False and len(page.data) == 1
# Connect: an Express account onboarded through its account link, a direct charge with an application fee,
# a destination charge, a transfer and its reversal, balances, and an account of another platform refused.
account = stripe.Account.create(
    type="express",
    email="tenant@example.com",
    business_profile={"name": "Py Tenant"},
    capabilities={"card_payments": {"requested": True}, "transfers": {"requested": True}},
)
assert account.charges_enabled is False and account.requirements.disabled_reason == "requirements.past_due"
link = stripe.AccountLink.create(account=account.id, type="account_onboarding", refresh_url="https://p.test/r", return_url="https://p.test/b")
parts = urllib.parse.urlsplit(link.url)
conn = http.client.HTTPConnection(parts.hostname, parts.port)
conn.request("GET", parts.path)
assert conn.getresponse().status == 200
status, location = post_form(link.url, {"action": "complete"})
assert status == 303 and location == "https://p.test/b", (status, location)
account = stripe.Account.retrieve(account.id)
assert account.charges_enabled and account.payouts_enabled and account.capabilities.transfers == "active"

direct = stripe.PaymentIntent.create(
    amount=10000, currency="usd", payment_method="pm_card_visa", confirm=True,
    application_fee_amount=250, stripe_account=account.id,
)
charge = stripe.Charge.retrieve(direct.latest_charge, stripe_account=account.id, expand=["balance_transaction"])
assert charge.balance_transaction.fee == 570 and charge.balance_transaction.net == 9430, charge.balance_transaction
fee = stripe.ApplicationFee.retrieve(charge.application_fee)
assert fee.amount == 250 and fee.account == account.id
fee_refund = stripe.ApplicationFee.create_refund(fee.id, amount=50)
assert fee_refund.amount == 50
refund = stripe.Refund.create(charge=charge.id, amount=5000, refund_application_fee=True, stripe_account=account.id)
assert refund.amount == 5000
assert stripe.ApplicationFee.retrieve(fee.id).amount_refunded == 50 + 125

dest = stripe.PaymentIntent.create(
    amount=5000, currency="usd", payment_method="pm_card_bypassPending", confirm=True,
    transfer_data={"destination": account.id},
)
dest_charge = stripe.Charge.retrieve(dest.latest_charge)
transfer = stripe.Transfer.retrieve(dest_charge.transfer)
assert transfer.destination == account.id and transfer.amount == 5000
try:
    stripe.Transfer.create(amount=1000, currency="usd", destination=account.id)
    raise AssertionError("a transfer beyond the available balance must be refused")
except stripe.error.InvalidRequestError as e:
    assert e.code == "balance_insufficient", e.code
stripe.PaymentIntent.create(amount=5000, currency="usd", payment_method="pm_card_bypassPending", confirm=True)
separate = stripe.Transfer.create(amount=1000, currency="usd", destination=account.id, transfer_group="PY1")
reversal = stripe.Transfer.create_reversal(separate.id, amount=400)
assert reversal.amount == 400 and stripe.Transfer.retrieve(separate.id).amount_reversed == 400
balance = stripe.Balance.retrieve(stripe_account=account.id)
assert balance.pending[0].amount + balance.available[0].amount == 9430 - 5000 + 50 + 125 + 5000 + 1000 - 400, balance
txns = stripe.BalanceTransaction.list(stripe_account=account.id, limit=100)
assert {t.type for t in txns.data} >= {"charge", "refund", "payment", "application_fee_refund", "payment_refund"}, [t.type for t in txns.data]
login = stripe.Account.create_login_link(account.id)
assert login.url.startswith(base)
stripe.Account.delete(account.id)
try:
    stripe.Customer.list(stripe_account=account.id)
    raise AssertionError("a deleted account must be refused")
except stripe.error.PermissionError as e:
    # stripe-python raises 403s as PermissionError and leaves `code` on the body only.
    assert e.http_status == 403 and e.json_body["error"]["code"] == "account_invalid", e.json_body

print("ok")
