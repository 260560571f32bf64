// Must NOT compile against dist/fbevents.d.ts (tests/e2e/types.test.mjs checks that tsc fails,
// and fails here): a misspelt standard event is a custom event, which only `trackCustom` takes.
fbq('track', 'Purchse', { value: 10, currency: 'USD' });
