<?php
/**
 * WooCommerce: what the browser knows is kept on the order at checkout, the thank-you page prints
 * the browser's Purchase, and payment queues the server's (Fbevents_Pixel_Server_Events). Only
 * WooCommerce's documented hooks and WC_Order methods are used (WooCommerce 6.6's code reference).
 * Nothing here makes an HTTP request: a page only reads cookies and writes order meta.
 *
 * @package FbeventsPixel
 */

defined( 'ABSPATH' ) || exit;

/**
 * The WooCommerce hooks.
 */
final class Fbevents_Pixel_WooCommerce {

	/** Hooks in; they fire only when WooCommerce is active. */
	public static function register(): void {
		// Classic (shortcode) checkout: before the new order is first saved, so no extra save.
		add_action( 'woocommerce_checkout_create_order', array( self::class, 'capture' ), 10, 1 );
		// Checkout block / Store API: the order is saved already.
		add_action( 'woocommerce_store_api_checkout_order_processed', array( self::class, 'capture_and_save' ), 10, 1 );
		add_action( 'woocommerce_thankyou', array( self::class, 'thankyou' ), 10, 1 );
		// Paid online (the gateway calls payment_complete()), or marked processing/completed by
		// an offline method (cash on delivery sets processing itself; bank transfer and cheque
		// orders wait on-hold until the shop marks them).
		add_action( 'woocommerce_payment_complete', array( Fbevents_Pixel_Server_Events::class, 'queue' ), 10, 1 );
		add_action( 'woocommerce_order_status_processing', array( Fbevents_Pixel_Server_Events::class, 'queue' ), 10, 1 );
		add_action( 'woocommerce_order_status_completed', array( Fbevents_Pixel_Server_Events::class, 'queue' ), 10, 1 );
	}

	/**
	 * Keeps on the order what only this request knows: the consent state, and with consent the
	 * `_fbp` and `_fbc` cookies; the IP address and user agent (WooCommerce's own, as it stored
	 * them on the order) and the page the order was placed from. Nothing while server events are
	 * off: no browser ID is kept that would never be used.
	 *
	 * @param mixed $order The new order (WC_Order).
	 */
	public static function capture( $order ): void {
		if ( ! $order instanceof WC_Order || ! Fbevents_Pixel_Server_Events::enabled( Fbevents_Pixel_Settings::get() ) ) {
			return;
		}
		$consent = self::consent();
		$browser = array(
			'consent' => $consent,
			'ip'      => (string) $order->get_customer_ip_address(),
			'ua'      => (string) $order->get_customer_user_agent(),
			'url'     => self::page_url(),
		);
		if ( 'granted' === $consent ) {
			foreach ( array( 'fbp' => '_fbp', 'fbc' => '_fbc' ) as $key => $cookie ) {
				$value = self::cookie( $cookie );
				if ( preg_match( '/^fb\.[0-9]\.[0-9]{1,16}\.[\x21-\x7e]{1,500}$/', $value ) ) {
					$browser[ $key ] = $value;
				}
			}
		}
		$order->update_meta_data( Fbevents_Pixel_Order_Event::BROWSER_META, $browser );
	}

	/**
	 * The same for an order that is already saved.
	 *
	 * @param mixed $order The order (WC_Order).
	 */
	public static function capture_and_save( $order ): void {
		if ( $order instanceof WC_Order ) {
			self::capture( $order );
			$order->save();
		}
	}

	/**
	 * What the visitor decided, as this request shows it: `granted`, `limited` or `refused`.
	 *
	 * The plugin's script records the page's last fbq('consent', …) call (the site's banner makes
	 * it) in the fbevents_consent cookie. Without that cookie: `refused` in the *revoke* consent
	 * mode (nobody has agreed yet), else `granted`. In the *honour GPC* mode a browser sending
	 * `Sec-GPC: 1` is at most `limited`, as the pixel treats it.
	 */
	public static function consent(): string {
		$settings = Fbevents_Pixel_Settings::get();
		$recorded = array(
			'granted' => 'granted',
			'limited' => 'limited',
			'revoked' => 'refused',
		);
		$cookie   = self::cookie( Fbevents_Pixel::CONSENT_COOKIE );
		if ( isset( $recorded[ $cookie ] ) ) {
			$state = $recorded[ $cookie ];
		} else {
			$state = 'revoke' === $settings['consent_mode'] ? 'refused' : 'granted';
		}
		$gpc = isset( $_SERVER['HTTP_SEC_GPC'] ) && '1' === trim( sanitize_text_field( wp_unslash( $_SERVER['HTTP_SEC_GPC'] ) ) );
		if ( 'granted' === $state && 'gpc' === $settings['consent_mode'] && $gpc ) {
			$state = 'limited';
		}
		/**
		 * The consent state recorded on an order at checkout, for sites whose consent tool can
		 * answer on the server: `granted`, `limited` or `refused`.
		 *
		 * @param string $state What the plugin found.
		 */
		$state = (string) apply_filters( 'fbevents_pixel_checkout_consent', $state );
		return in_array( $state, array( 'granted', 'limited', 'refused' ), true ) ? $state : 'refused';
	}

	/**
	 * Prints the browser's Purchase on the thank-you page (WooCommerce shows it only to whoever
	 * has the order key), with the event ID and custom data the server's copy will have.
	 *
	 * @param mixed $order_id The order's ID.
	 */
	public static function thankyou( $order_id ): void {
		if ( ! Fbevents_Pixel::enabled() || ! function_exists( 'wc_get_order' ) ) {
			return;
		}
		$order = wc_get_order( $order_id );
		if ( ! $order instanceof WC_Order || $order->has_status( 'failed' ) ) {
			return;
		}
		/**
		 * Whether the thank-you page prints the browser's Purchase (default true).
		 *
		 * @param bool     $print Print it.
		 * @param WC_Order $order The order.
		 */
		if ( ! apply_filters( 'fbevents_pixel_woocommerce_thankyou', true, $order ) ) {
			return;
		}
		Fbevents_Pixel::print_purchase( Fbevents_Pixel_Order_Event::event_id( $order ), Fbevents_Pixel_Order_Event::custom_data( $order ) );
	}

	/**
	 * A cookie of this request, unslashed, '' when absent or not a short printable string.
	 *
	 * @param string $name Cookie name.
	 */
	private static function cookie( string $name ): string {
		if ( ! isset( $_COOKIE[ $name ] ) || ! is_string( $_COOKIE[ $name ] ) ) {
			return '';
		}
		$value = trim( sanitize_text_field( wp_unslash( $_COOKIE[ $name ] ) ) );
		return strlen( $value ) <= 600 ? $value : '';
	}

	/**
	 * The page the order was placed from: the checkout request's Referer when it is on this site
	 * (the classic checkout posts from the checkout page), else the checkout page's URL.
	 */
	private static function page_url(): string {
		$referer = isset( $_SERVER['HTTP_REFERER'] ) ? esc_url_raw( wp_unslash( $_SERVER['HTTP_REFERER'] ), array( 'http', 'https' ) ) : '';
		$url     = '' !== $referer ? wp_validate_redirect( $referer, '' ) : '';
		return '' !== $url ? $url : wc_get_checkout_url();
	}
}
