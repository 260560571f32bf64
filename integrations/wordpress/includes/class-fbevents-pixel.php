<?php
/**
 * What the visitor's page gets: Meta's base code loading our script, the endpoint, consent (and
 * the recorder of the banner's decision for the server), init (with the logged-in customer's
 * advanced matching on their own, uncached page only), PageView, and the Purchase hooks.
 *
 * Every value printed into the page goes through wp_json_encode() with the JSON_HEX_* flags (no
 * `<`, `>`, `&`, `'` or `"` survives literally, so nothing can close the script element or a
 * string), inside a script printed by wp_print_inline_script_tag().
 *
 * @package FbeventsPixel
 */

defined( 'ABSPATH' ) || exit;

/**
 * The front-end half of the plugin.
 */
final class Fbevents_Pixel {

	/**
	 * The PHP action a theme or shop plugin fires for a completed order:
	 *
	 *     do_action( 'fbevents_pixel_purchase', $order_number, $value, $currency, $custom_data );
	 */
	public const PURCHASE_ACTION = 'fbevents_pixel_purchase';

	/** The DOM event the JS hook also listens for (detail: {order, value, currency, ...}). */
	public const PURCHASE_EVENT = 'fbevents-pixel:purchase';

	/**
	 * The first-party cookie that records the page's last fbq('consent', …) call (`granted`,
	 * `revoked` or `limited`), so that the server knows at checkout what the site's banner decided.
	 */
	public const CONSENT_COOKIE = 'fbevents_consent';

	/**
	 * Purchases fired before wp_head printed the base code; printed right after it.
	 *
	 * @var array<int, array{0: string, 1: array}>
	 */
	private static array $pending = array();

	/** Hooks into the front end. */
	public static function register(): void {
		add_action( 'send_headers', array( self::class, 'send_headers' ) );
		add_action( 'wp_head', array( self::class, 'print_base_code' ), 1 );
		add_action( self::PURCHASE_ACTION, array( self::class, 'purchase' ), 10, 4 );
	}

	/** Whether the pixel is configured enough to print anything. */
	public static function enabled(): bool {
		$settings = Fbevents_Pixel_Settings::get();
		return '' !== $settings['pixel_id'] && '' !== Fbevents_Pixel_Settings::script_url( $settings );
	}

	/**
	 * The logged-in user's advanced-matching fields (plain: the pixel normalises and hashes them in
	 * the browser), or an empty array when matching is off or nobody is logged in.
	 *
	 * @return array<string, string>
	 */
	public static function user_data(): array {
		$settings = Fbevents_Pixel_Settings::get();
		if ( ! $settings['advanced_matching'] || ! is_user_logged_in() ) {
			return array();
		}
		$user = wp_get_current_user();
		$data = array(
			'em' => (string) $user->user_email,
			'fn' => (string) $user->first_name,
			'ln' => (string) $user->last_name,
		);
		return array_filter( $data, static fn ( string $v ): bool => '' !== trim( $v ) );
	}

	/**
	 * A page that will carry the user's own identifiers must never be stored by a cache and served
	 * to someone else: no-cache headers for the browser and proxies, and DONOTCACHEPAGE for the
	 * page-cache plugins that honour it.
	 */
	public static function send_headers(): void {
		if ( self::enabled() && array() !== self::user_data() ) {
			nocache_headers();
			header( 'Cache-Control: private, no-store, no-cache, must-revalidate, max-age=0' );
			if ( ! defined( 'DONOTCACHEPAGE' ) ) {
				define( 'DONOTCACHEPAGE', true );
			}
		}
	}

	/**
	 * JSON for a script: every character that could end the script element or a string escaped.
	 *
	 * @param mixed $value Anything wp_json_encode takes.
	 */
	public static function js( $value ): string {
		$json = wp_json_encode( $value, JSON_HEX_TAG | JSON_HEX_AMP | JSON_HEX_APOS | JSON_HEX_QUOT | JSON_UNESCAPED_SLASHES );
		return false === $json ? 'null' : $json;
	}

	/** Meta's base code with our script, then endpoint, consent, init and PageView. */
	public static function print_base_code(): void {
		if ( ! self::enabled() ) {
			return;
		}
		$settings = Fbevents_Pixel_Settings::get();
		$lines    = array(
			// Meta's standard base code (the stub that queues calls until the library loads).
			'!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?' .
			'n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;' .
			"n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;" .
			't.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,' .
			"document,'script'," . self::js( Fbevents_Pixel_Settings::script_url( $settings ) ) . ');',
		);
		if ( '' !== $settings['collector_url'] ) {
			$lines[] = "fbq('set','endpoint'," . self::js( $settings['collector_url'] ) . ');';
		}
		if ( 'revoke' === $settings['consent_mode'] ) {
			$lines[] = "fbq('consent','revoke');";
		} elseif ( 'gpc' === $settings['consent_mode'] ) {
			$lines[] = "fbq('set','honorGPC',true);";
		}
		$lines[] = self::consent_recorder_js();
		$user_data = self::user_data();
		$lines[]   = "fbq('init','" . esc_js( $settings['pixel_id'] ) . "'" . ( array() === $user_data ? '' : ',' . self::js( $user_data ) ) . ');';
		$lines[]   = "fbq('track','PageView');";
		// The JS hook: fbeventsPixel.purchase(orderNumber, customData), or the DOM event
		// document.dispatchEvent(new CustomEvent('fbevents-pixel:purchase', {detail: {order, ...}})).
		$lines[] = 'window.fbeventsPixel={purchase:function(o,d){' .
			"if(o===undefined||o===null||o===''){console.warn('[fbevents-pixel] purchase: no order number');return;}" .
			"fbq('track','Purchase',d||{},{eventID:String(o)});}};" .
			'document.addEventListener(' . self::js( self::PURCHASE_EVENT ) . ',function(e){' .
			'var d=Object.assign({},e.detail),o=d.order;delete d.order;window.fbeventsPixel.purchase(o,d);});';
		foreach ( self::$pending as $purchase ) {
			$lines[] = self::purchase_js( $purchase[0], $purchase[1] );
		}
		self::$pending = array();
		wp_print_inline_script_tag( implode( "\n", $lines ), array( 'id' => 'fbevents-pixel' ) );
	}

	/**
	 * Records every fbq('consent', …) call in the CONSENT_COOKIE (a strictly necessary cookie: it
	 * holds the visitor's decision, no identifier), whoever makes it: the calls queued before the
	 * library loads (through the stub's queue) and those after (through the `callMethod` the library
	 * installs, wrapped by a property accessor). The stub itself stays Meta's. The last call wins,
	 * in page order, as in the pixel.
	 */
	private static function consent_recorder_js(): string {
		$secure = is_ssl() ? ';secure' : '';
		return '(function(f,d){var m={grant:"granted",revoke:"revoked",limited:"limited"};' .
			'function r(a){if(a&&a[0]==="consent"&&m.hasOwnProperty(a[1]))d.cookie=' . self::js( self::CONSENT_COOKIE . '=' ) .
			'+m[a[1]]+' . self::js( ';path=' . COOKIEPATH . ';max-age=31536000;samesite=lax' . $secure ) . ';}' .
			'try{var q=f.queue,p=q.push,c;q.push=function(a){r(a);return p.apply(q,arguments);};' .
			'Object.defineProperty(f,"callMethod",{configurable:true,get:function(){return c&&function(){r(arguments);return c.apply(f,arguments);};},set:function(v){c=v;}});' .
			'}catch(e){}})(fbq,document);';
	}

	/**
	 * The PHP hook: a Purchase whose event ID is the order number, so the collector's Conversions
	 * API copy and the browser's are one event to Meta. (A shop that is not WooCommerce: WooCommerce
	 * orders get theirs from Fbevents_Pixel_WooCommerce, with an event ID nobody can guess.) Printed where the action fires (a thank-you
	 * page's content), or right after the base code if it fires before wp_head.
	 *
	 * @param mixed $order_number The shop's order number (WooCommerce: $order->get_order_number()).
	 * @param mixed $value        Order total.
	 * @param mixed $currency     ISO 4217 code.
	 * @param mixed $custom_data  More custom data (content_ids, contents, num_items, ...).
	 */
	public static function purchase( $order_number = '', $value = null, $currency = '', $custom_data = array() ): void {
		if ( ! self::enabled() ) {
			return;
		}
		$order = is_scalar( $order_number ) ? trim( (string) $order_number ) : '';
		if ( '' === $order || strlen( $order ) > 200 ) {
			_doing_it_wrong( __METHOD__, esc_html__( 'fbevents_pixel_purchase needs an order number of 1 to 200 characters; no Purchase was printed.', 'fbevents-pixel' ), '0.1.0' );
			return;
		}
		$data = is_array( $custom_data ) ? $custom_data : array();
		if ( is_numeric( $value ) ) {
			$data['value'] = (float) $value;
		}
		if ( is_string( $currency ) && preg_match( '/^[A-Za-z]{3}$/', $currency ) ) {
			$data['currency'] = strtoupper( $currency );
		}
		self::print_purchase( $order, $data );
	}

	/**
	 * Prints a Purchase with this event ID and custom data: where called once the base code is out,
	 * else right after it.
	 *
	 * @param string $event_id Event ID (the server copy's too).
	 * @param array  $data     Custom data.
	 */
	public static function print_purchase( string $event_id, array $data ): void {
		if ( ! self::enabled() ) {
			return;
		}
		if ( did_action( 'wp_head' ) ) {
			wp_print_inline_script_tag( self::purchase_js( $event_id, $data ) );
		} else {
			self::$pending[] = array( $event_id, $data );
		}
	}

	/**
	 * The fbq call of one Purchase.
	 *
	 * @param string $order Order number.
	 * @param array  $data  Custom data.
	 */
	private static function purchase_js( string $order, array $data ): string {
		return "fbq('track','Purchase'," . self::js( (object) $data ) . ',{eventID:' . self::js( $order ) . '});';
	}
}
