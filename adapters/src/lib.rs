//! The outside world: SMS (Twilio, Aliyun), e-mail (SendGrid, SMTP) and payment (Stripe)
//! adapters behind traits, and `resilience/` (circuit breaker, retry, rate limit) that wraps any
//! adapter the same way. Empty for now: the workers-and-adapters issue fills it in.
