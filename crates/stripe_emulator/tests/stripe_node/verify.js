// Verifies one delivered webhook with stripe-node's own verifier and prints its type; exits 1, naming the
// error class, when the signature does not verify.
//
// Usage: node verify.js <payload file> <Stripe-Signature header> <whsec_ secret>
'use strict';

const fs = require('node:fs');
const Stripe = require('stripe');

const stripe = new Stripe('sk_test_node');
const [file, header, secret] = process.argv.slice(2);
try {
  const event = stripe.webhooks.constructEvent(fs.readFileSync(file), header, secret);
  console.log(event.type);
} catch (e) {
  console.error(`${e.type}: ${e.message}`);
  process.exit(1);
}
