// Types of the `fbq` function of the fbevents pixel (a drop-in Meta Pixel in Rust/WebAssembly),
// shipped as dist/fbevents.d.ts and referenced from package.json's "types".
//
// A global script declaration, like @types/facebook-pixel: `fbq` (and `window.fbq`, `_fbq`) of type
// `facebook.Pixel.Event`, with the same namespace and interface names (ViewContentParameters,
// PurchaseParameters, EventIDOptions, CustomParameters, DPA.*), so code written against those types
// compiles against these. Stricter where the pixel is: `track` takes only the standard event names
// (anything else goes through `trackCustom`), and the commands are the ones the pixel supports
// (README.md's command table), each with its own overload. Use it with
// `/// <reference types="fbevents-build" />`, a "types" entry in tsconfig.json, or by copying
// fbevents.d.ts next to your code.

declare namespace facebook.Pixel {
  /** The standard event names (SPEC §3). Anything else is a custom event: `trackCustom`. */
  type StandardEventName =
    | 'AddPaymentInfo'
    | 'AddToCart'
    | 'AddToWishlist'
    | 'CompleteRegistration'
    | 'Contact'
    | 'CustomizeProduct'
    | 'Donate'
    | 'FindLocation'
    | 'InitiateCheckout'
    | 'Lead'
    | 'PageView'
    | 'Purchase'
    | 'Schedule'
    | 'Search'
    | 'StartTrial'
    | 'SubmitApplication'
    | 'Subscribe'
    | 'ViewContent';

  /** One line of `contents`. */
  interface Content {
    id: string;
    quantity: number;
    item_price?: number | undefined;
    [key: string]: unknown;
  }

  /**
   * The custom-data keys the pixel recognises, all optional; any other key is a custom parameter
   * and is sent as it is (objects and arrays as JSON).
   */
  interface CustomData {
    value?: number | undefined;
    /** ISO 4217, three letters. */
    currency?: string | undefined;
    content_ids?: string[] | undefined;
    contents?: Content[] | undefined;
    content_type?: 'product' | 'product_group' | (string & {}) | undefined;
    content_name?: string | undefined;
    content_category?: string | undefined;
    num_items?: number | undefined;
    predicted_ltv?: number | undefined;
    search_string?: string | undefined;
    status?: boolean | string | undefined;
    order_id?: string | undefined;
    delivery_category?: string | undefined;
    [key: string]: unknown;
  }

  /** Any custom data (as @types/facebook-pixel names it). */
  type CustomParameters = Record<string, any>;

  interface ViewContentParameters extends CustomData {}
  interface SearchParameters extends CustomData {}
  interface AddToCartParameters extends CustomData {}
  interface AddToWishlistParameters extends CustomData {}
  interface InitiateCheckoutParameters extends CustomData {}
  interface AddPaymentInfoParameters extends CustomData {}
  interface LeadParameters extends CustomData {}
  interface CompleteRegistrationParameters extends CustomData {}
  /** The pixel warns (and still sends) when `value` is not a number or `currency` not ISO 4217. */
  interface PurchaseParameters extends CustomData {
    value: number;
    currency: string;
  }

  /** Custom data per standard event. */
  interface StandardEventParameters {
    AddPaymentInfo: AddPaymentInfoParameters;
    AddToCart: AddToCartParameters;
    AddToWishlist: AddToWishlistParameters;
    CompleteRegistration: CompleteRegistrationParameters;
    Contact: CustomData;
    CustomizeProduct: CustomData;
    Donate: CustomData;
    FindLocation: CustomData;
    InitiateCheckout: InitiateCheckoutParameters;
    Lead: LeadParameters;
    PageView: CustomData;
    Purchase: PurchaseParameters;
    Schedule: CustomData;
    Search: SearchParameters;
    StartTrial: CustomData;
    SubmitApplication: CustomData;
    Subscribe: CustomData;
    ViewContent: ViewContentParameters;
  }

  /** The 4th argument: the event ID (`eid`), so a Conversions API copy deduplicates. */
  interface EventIDOptions {
    eventID: string;
  }
  /** `{eventID}` or Meta's other spelling `{event_id}`. */
  type EventOptions = EventIDOptions | { event_id: string };

  /**
   * Advanced matching: plain values, normalised and SHA-256'd in the browser (never sent plain), or
   * 64-hex-character hashes. Canonical keys and their aliases.
   */
  interface UserData {
    em?: string | undefined;
    ph?: string | undefined;
    fn?: string | undefined;
    ln?: string | undefined;
    ge?: string | undefined;
    db?: string | undefined;
    ct?: string | undefined;
    st?: string | undefined;
    zp?: string | undefined;
    country?: string | undefined;
    external_id?: string | undefined;
    email?: string | undefined;
    phone?: string | undefined;
    f_name?: string | undefined;
    first_name?: string | undefined;
    l_name?: string | undefined;
    last_name?: string | undefined;
    gen?: string | undefined;
    gender?: string | undefined;
    dob?: string | undefined;
    city?: string | undefined;
    state?: string | undefined;
    zip?: string | undefined;
    zip_code?: string | undefined;
  }

  /** `init`'s 3rd argument. */
  interface InitOptions {
    /** The `a` parameter (partner agent). */
    agent?: string | undefined;
  }

  /** A pixel ID: 1 to 26 digits, as a string or a number. */
  type PixelId = string | number;

  type ConsentAction = 'revoke' | 'grant' | 'limited';

  /** Every call, as a tuple: the legacy array form `fbq(['track', 'PageView'])` takes one. */
  type Command =
    | ['init', PixelId, UserData?, InitOptions?]
    | { [K in StandardEventName]: ['track', K, StandardEventParameters[K]?, EventOptions?] }[Exclude<StandardEventName, 'Purchase'>]
    | ['track', 'Purchase', PurchaseParameters, EventOptions?]
    | ['trackCustom', string, CustomParameters?, EventOptions?]
    | { [K in StandardEventName]: ['trackSingle', PixelId, K, StandardEventParameters[K]?, EventOptions?] }[StandardEventName]
    | ['trackSingleCustom', PixelId, string, CustomParameters?, EventOptions?]
    | ['consent', ConsentAction]
    | ['dataProcessingOptions', Array<'LDU'>, number?, number?]
    | ['set', 'endpoint', string]
    | ['set', 'openbridge', PixelId, string]
    | ['set', 'agent', string, PixelId]
    | ['set', 'firstPartyCookies', boolean, PixelId?]
    | ['set', 'userData', UserData, PixelId?]
    | ['set', 'honorGPC', boolean]
    | ['set', 'debug', boolean]
    | ['set', 'autoConfig', boolean | string, PixelId?];

  interface Event {
    /** Initialises a pixel; `userData` is advanced matching (hashed in the browser). */
    (command: 'init', pixelId: PixelId, userData?: UserData, options?: InitOptions): void;

    /** A standard event to every pixel. Purchase needs `value` and `currency`. */
    (command: 'track', eventName: 'Purchase', parameters: PurchaseParameters, options?: EventOptions): void;
    <K extends Exclude<StandardEventName, 'Purchase'>>(command: 'track', eventName: K, parameters?: StandardEventParameters[K], options?: EventOptions): void;
    /** A custom event (any name) to every pixel. */
    (command: 'trackCustom', eventName: string, parameters?: CustomParameters, options?: EventOptions): void;
    /** A standard event to one pixel (`tm=1`). */
    <K extends StandardEventName>(command: 'trackSingle', pixelId: PixelId, eventName: K, parameters?: StandardEventParameters[K], options?: EventOptions): void;
    /** A custom event to one pixel (`tm=2`). */
    (command: 'trackSingleCustom', pixelId: PixelId, eventName: string, parameters?: CustomParameters, options?: EventOptions): void;

    /** `revoke` holds every call until `grant`; `limited` sends without identifiers, with LDU (ours). */
    (command: 'consent', action: ConsentAction): void;
    /** `['LDU']` (limited data use), `[]` to turn it off; country/state `0`/`0` geolocate. */
    (command: 'dataProcessingOptions', options: Array<'LDU'>, country?: number, state?: number): void;

    /** Every beacon to `url` instead of https://www.facebook.com/tr/ (first-party collection). */
    (command: 'set', key: 'endpoint', url: string): void;
    /** Pixel `pixelId`'s beacons also to `url` (a Conversions API Gateway). */
    (command: 'set', key: 'openbridge', pixelId: PixelId, url: string): void;
    /** The `a` parameter of one pixel. */
    (command: 'set', key: 'agent', agent: string, pixelId: PixelId): void;
    /** `false`: no `_fbp`/`_fbc` cookies, for one pixel or (no id) for all. */
    (command: 'set', key: 'firstPartyCookies', enabled: boolean, pixelId?: PixelId): void;
    /** Replaces the advanced-matching data (ours). */
    (command: 'set', key: 'userData', userData: UserData, pixelId?: PixelId): void;
    /** `navigator.globalPrivacyControl === true` means limited mode (ours). */
    (command: 'set', key: 'honorGPC', enabled: boolean): void;
    /** Every beacon logged readably (hashes only). */
    (command: 'set', key: 'debug', enabled: boolean): void;
    /** Accepted; no effect. */
    (command: 'set', key: 'autoConfig', enabled: boolean | string, pixelId?: PixelId): void;

    /** The legacy array form: `fbq(['track', 'PageView'])`. */
    (command: Command): void;

    /** Meta's stub: `fbq.push === fbq`. */
    push: Event;
    /** Set by the stub; the library replaces it with its own version string. */
    version: string;
    loaded: boolean;
    /** Calls made before the library loaded (the stub's `arguments` objects). */
    queue: ArrayLike<unknown>[];
    /** Installed by the library: the dispatcher. */
    callMethod?: ((...args: unknown[]) => void) | undefined;
    /** Set on the stub before load: no PageView on `history.pushState`/`replaceState`/`popstate`. */
    disablePushState?: boolean | undefined;
    /** Set on the stub before load: a PageView every time it is tracked, not once per URL. */
    allowDuplicatePageViews?: boolean | undefined;
  }

  // For Meta's Dynamic Product Ads (as @types/facebook-pixel has them).
  namespace DPA {
    interface ViewContentParameters extends facebook.Pixel.ViewContentParameters {
      content_type: string;
      content_ids: string[];
    }
    interface AddToCartParameters extends facebook.Pixel.AddToCartParameters {
      content_type: string;
      content_ids: string[];
    }
    interface PurchaseParameters extends facebook.Pixel.PurchaseParameters {
      content_type: string;
      content_ids: string[];
    }
  }
}

declare var fbq: facebook.Pixel.Event;
declare var _fbq: facebook.Pixel.Event;
