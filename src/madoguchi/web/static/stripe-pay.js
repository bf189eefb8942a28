// The Stripe card payment page (portal/stripe_pay.html, decision 0045): mount Stripe.js's Payment Element with the
// PaymentIntent's client secret and confirm the payment there. The card is typed into Stripe's iframe only.
// Stripe.js sends the resident to the return page (ours); we come back here only when it could not confirm:
// - a form left incomplete: its message, and the resident corrects it;
// - a card declined: Stripe ends the attempt, and our return page says so and offers a new payment (decision 0044);
// - anything else (the network, Stripe.js itself): its message, and the resident may try again.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("stripe-pay-form");
    var message = document.getElementById("stripe-pay-message");
    if (!form || !message) { return; }
    var data = form.dataset;
    function show(text) {
      message.textContent = text;
      message.hidden = false;
      message.focus();
    }
    if (typeof window.Stripe !== "function") { show(data.unavailable); return; }
    var stripe = window.Stripe(data.publishableKey, { locale: data.locale });
    var elements = stripe.elements({ clientSecret: data.clientSecret, locale: data.locale });
    elements.create("payment").mount("#payment-element");
    form.hidden = false;
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      message.hidden = true;
      stripe.confirmPayment({ elements: elements, confirmParams: { return_url: data.returnUrl } }).then(function (result) {
        var error = result && result.error;
        if (error && error.type === "card_error") { window.location.assign(data.returnUrl); return; }
        if (error) { show(error.message || data.unavailable); }
        button.disabled = false;
      });
    });
  });
})();
