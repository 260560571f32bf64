<?php
/**
 * One WooCommerce order as a Purchase: its event ID, its custom data (the same for the browser's
 * copy and the server's) and the server's Conversions API event. Reads the order through
 * WooCommerce's documented WC_Order getters only (WooCommerce 6.6's code reference); sends nothing.
 *
 * @package FbeventsPixel
 */

defined( 'ABSPATH' ) || exit;

/**
 * Builds the Purchase of an order.
 */
final class Fbevents_Pixel_Order_Event {

	/** Order meta: what only the browser knew at checkout (see Fbevents_Pixel_WooCommerce). */
	public const BROWSER_META = '_fbevents_browser';

	/** Meta accepts website events up to 7 days old. */
	public const MAX_AGE = 7 * DAY_IN_SECONDS;

	/**
	 * The Purchase's event ID, shared by the thank-you page's browser copy and the server's copy:
	 * an HMAC-SHA-256 of the order key under the site's secret (wp_salt), 32 hex digits. Only
	 * someone who has the order key (the buyer, on the thank-you page; the shop) can know it, so
	 * nobody can send a beacon that claims another order's Purchase, as they could with the order
	 * number. The same order gives the same ID on every call, with nothing stored.
	 *
	 * @param WC_Order $order The order.
	 */
	public static function event_id( WC_Order $order ): string {
		$key = (string) $order->get_order_key();
		if ( '' === $key ) {
			$key = 'order-id:' . $order->get_id();
		}
		return substr( hash_hmac( 'sha256', 'fbevents-pixel purchase ' . $key, wp_salt( 'auth' ) ), 0, 32 );
	}

	/**
	 * The custom data of the Purchase: value (the order total), currency, contents (id, quantity,
	 * price of one), content IDs, content type, number of items and the order number.
	 *
	 * @param WC_Order $order The order.
	 * @return array<string, mixed>
	 */
	public static function custom_data( WC_Order $order ): array {
		$contents = array();
		$num      = 0;
		foreach ( $order->get_items() as $item ) {
			if ( ! $item instanceof WC_Order_Item_Product ) {
				continue;
			}
			$id = $item->get_variation_id() ? $item->get_variation_id() : $item->get_product_id();
			/**
			 * The content ID of a product as your Meta catalog knows it (default: WooCommerce's
			 * product or variation ID).
			 *
			 * @param string                $id   The ID.
			 * @param WC_Order_Item_Product $item The order line.
			 */
			$id         = (string) apply_filters( 'fbevents_pixel_content_id', (string) $id, $item );
			$quantity   = (int) $item->get_quantity();
			$num       += $quantity;
			$contents[] = array(
				'id'         => $id,
				'quantity'   => $quantity,
				'item_price' => (float) $order->get_item_total( $item, false, true ),
			);
		}
		return array(
			'value'        => (float) $order->get_total(),
			'currency'     => strtoupper( (string) $order->get_currency() ),
			'contents'     => $contents,
			'content_ids'  => array_values( array_unique( array_column( $contents, 'id' ) ) ),
			'content_type' => 'product',
			'num_items'    => $num,
			'order_id'     => (string) $order->get_order_number(),
		);
	}

	/**
	 * When the Purchase happened: the order's payment date, else its creation date, else now.
	 *
	 * @param WC_Order $order The order.
	 */
	public static function event_time( WC_Order $order ): int {
		$date = $order->get_date_paid();
		if ( ! $date ) {
			$date = $order->get_date_created();
		}
		return $date ? $date->getTimestamp() : time();
	}

	/**
	 * The server's Purchase in Conversions API form, or null when nothing may be sent for this
	 * order (its visitor refused and the setting says to send nothing).
	 *
	 * Consent at checkout (see Fbevents_Pixel_WooCommerce::consent()):
	 * - granted: the billing e-mail, phone, first and last name, city, state, postcode and country
	 *   (plain: the collector normalises and hashes them as the pixel does), the customer's user ID
	 *   as external_id, IP, user agent, `_fbp` and `_fbc`;
	 * - limited, or refused with the `ldu` setting: what the pixel sends in its limited mode and no
	 *   more: IP and user agent (every request carries them), the page URL without its query, the
	 *   custom data, and `data_processing_options: ["LDU"]` with country and state 0 (Meta
	 *   geolocates);
	 * - refused with the `none` setting: nothing.
	 *
	 * An order not placed through the checkout (no browser meta: made in the admin, or before the
	 * plugin was active) counts as refused in the *revoke* consent mode, else as granted, with
	 * WooCommerce's own IP and user agent if it has them.
	 *
	 * @param WC_Order $order    The order.
	 * @param array    $settings Fbevents_Pixel_Settings::get().
	 * @return array<string, mixed>|null
	 */
	public static function server_event( WC_Order $order, array $settings ): ?array {
		$browser = $order->get_meta( self::BROWSER_META );
		$browser = is_array( $browser ) ? $browser : array();
		if ( isset( $browser['consent'] ) ) {
			$consent = (string) $browser['consent'];
		} else {
			$consent = 'revoke' === $settings['consent_mode'] ? 'refused' : 'granted';
		}
		if ( 'refused' === $consent && 'ldu' !== $settings['refused_mode'] ) {
			return null;
		}
		$full = 'granted' === $consent;

		$ip  = isset( $browser['ip'] ) ? (string) $browser['ip'] : (string) $order->get_customer_ip_address();
		$ua  = isset( $browser['ua'] ) ? (string) $browser['ua'] : (string) $order->get_customer_user_agent();
		$url = isset( $browser['url'] ) ? (string) $browser['url'] : wc_get_checkout_url();

		$user = array(
			'client_ip_address' => $ip,
			'client_user_agent' => $ua,
		);
		if ( $full ) {
			$user += array(
				'em'      => $order->get_billing_email(),
				'ph'      => $order->get_billing_phone(),
				'fn'      => $order->get_billing_first_name(),
				'ln'      => $order->get_billing_last_name(),
				'ct'      => $order->get_billing_city(),
				'st'      => $order->get_billing_state(),
				'zp'      => $order->get_billing_postcode(),
				'country' => $order->get_billing_country(),
				'fbp'     => isset( $browser['fbp'] ) ? (string) $browser['fbp'] : '',
				'fbc'     => isset( $browser['fbc'] ) ? (string) $browser['fbc'] : '',
			);
			if ( $order->get_customer_id() > 0 ) {
				$user['external_id'] = (string) $order->get_customer_id();
			}
		} else {
			$url = (string) preg_replace( '/[?#].*$/', '', $url );
		}
		$user = array_filter( array_map( 'strval', $user ), static fn ( string $v ): bool => '' !== trim( $v ) );

		$event = array(
			'event_name'       => 'Purchase',
			'event_time'       => self::event_time( $order ),
			'event_id'         => self::event_id( $order ),
			'action_source'    => 'website',
			'event_source_url' => $url,
			'user_data'        => (object) $user,
			'custom_data'      => self::custom_data( $order ),
		);
		if ( ! $full ) {
			$event['data_processing_options']         = array( 'LDU' );
			$event['data_processing_options_country'] = 0;
			$event['data_processing_options_state']   = 0;
		}
		/**
		 * The server's Purchase, just before it is sent to the collector (a Conversions API event).
		 *
		 * @param array    $event The event.
		 * @param WC_Order $order The order.
		 */
		return apply_filters( 'fbevents_pixel_server_event', $event, $order );
	}
}
