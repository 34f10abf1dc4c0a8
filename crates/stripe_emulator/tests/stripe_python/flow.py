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
print("ok")
