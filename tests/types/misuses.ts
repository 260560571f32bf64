// Each line below is a mistake the types must catch: `// @ts-expect-error` makes tsc fail if the
// line after it compiles (tests/e2e/types.test.mjs). Compiles as a whole only when every one errs.

// @ts-expect-error a misspelt standard event
fbq('track', 'Pageview');
// @ts-expect-error a custom name through track
fbq('track', 'ShareRecipe', {});
// @ts-expect-error a misspelt standard event for one pixel
fbq('trackSingle', '1', 'AddToKart');
// @ts-expect-error Purchase without custom data
fbq('track', 'Purchase');
// @ts-expect-error Purchase without a currency
fbq('track', 'Purchase', { value: 10 });
// @ts-expect-error a value that is not a number
fbq('track', 'ViewContent', { value: '10' });
// @ts-expect-error content_ids must be strings
fbq('track', 'AddToCart', { content_ids: [1, 2] });
// @ts-expect-error the event ID goes as eventID or event_id
fbq('track', 'Lead', {}, { id: 'x' });
// @ts-expect-error an unknown consent action
fbq('consent', 'maybe');
// @ts-expect-error only LDU is a data processing option
fbq('dataProcessingOptions', ['GDPR']);
// @ts-expect-error an unknown command
fbq('trak', 'PageView');
// @ts-expect-error an unknown set key
fbq('set', 'endpiont', 'https://shop.example.com/tr/');
// @ts-expect-error the endpoint is a URL string
fbq('set', 'endpoint', 42);
// @ts-expect-error set agent needs the pixel ID
fbq('set', 'agent', 'plwordpress');
// @ts-expect-error an unknown advanced-matching key
fbq('init', '1', { mail: 'ada@example.org' });
// @ts-expect-error the array form checks its tuple too
fbq(['track', 'Purchse']);
