<?php
/**
 * Sends a paid order's Purchase to the collector's server-events endpoint, from WP-Cron only.
 *
 *     payment hook ──queue()──▶ WP-Cron event (now) ──send()──▶ POST {collector}/v24.0/{pixel}/events
 *                                     ▲                              │
 *                                     │ 5xx, 408, 429, timeout,      ├─ 2xx: state `sent` (only now)
 *                                     │ refused connection:          ├─ other 4xx: state `rejected`,
 *                                     └─ `retrying`, again after     │  logged, never retried
 *                                        60 s × 2^(n−1) (≤ 1 h, or   └─ past Meta's 7 days: `expired`
 *                                        the Retry-After)
 *
 * The state lives on the order (_fbevents_server_state): a payment hook that fires again (the
 * status moves on to completed, the gateway calls payment_complete() twice) finds `sent`, or the
 * event still scheduled, and does nothing, so each order is sent once. The request is made with
 * 'blocking' => true and a 10-second timeout, in the cron request; no page ever waits for it.
 *
 * @package FbeventsPixel
 */

defined( 'ABSPATH' ) || exit;

/**
 * The queue and the sender.
 */
final class Fbevents_Pixel_Server_Events {

	/** The WP-Cron hook; its one argument is the order ID. */
	public const HOOK = 'fbevents_pixel_send_purchase';

	/** Order meta: queued (implicitly), retrying, sent, rejected, skipped or expired. */
	public const STATE_META = '_fbevents_server_state';

	/** Order meta: requests made so far. */
	public const ATTEMPTS_META = '_fbevents_server_attempts';

	/** Order meta: when the collector acknowledged it (Unix time). */
	public const SENT_META = '_fbevents_server_sent_at';

	/** States after which nothing more is sent. */
	public const FINAL_STATES = array( 'sent', 'rejected', 'skipped', 'expired' );

	/** Seconds the collector has to answer. */
	public const TIMEOUT = 10;

	/** First retry after this many seconds, doubling. */
	public const RETRY_BASE = 60;

	/** Retries are at most this far apart (a Retry-After may say more, up to a day). */
	public const RETRY_MAX = HOUR_IN_SECONDS;

	/** Hooks the cron event. */
	public static function register(): void {
		add_action( self::HOOK, array( self::class, 'send' ), 10, 1 );
	}

	/**
	 * Whether server events are configured: a pixel ID, a collector to send to, a server key, and
	 * WooCommerce.
	 *
	 * @param array $settings Fbevents_Pixel_Settings::get().
	 */
	public static function enabled( array $settings ): bool {
		return function_exists( 'wc_get_order' )
			&& '' !== Fbevents_Pixel_Settings::server_events_url( $settings )
			&& '' !== Fbevents_Pixel_Settings::server_key( $settings );
	}

	/**
	 * A payment hook: schedules the order's Purchase for the next WP-Cron run, unless it was sent
	 * (or given up) already or is scheduled. Writes nothing to the order.
	 *
	 * @param mixed $order_id The order's ID.
	 */
	public static function queue( $order_id ): void {
		$order_id = absint( $order_id );
		if ( ! $order_id || ! self::enabled( Fbevents_Pixel_Settings::get() ) ) {
			return;
		}
		$order = wc_get_order( $order_id );
		if ( ! $order instanceof WC_Order || in_array( $order->get_meta( self::STATE_META ), self::FINAL_STATES, true ) ) {
			return;
		}
		if ( false === wp_next_scheduled( self::HOOK, array( $order_id ) ) ) {
			wp_schedule_single_event( time(), self::HOOK, array( $order_id ) );
		}
	}

	/**
	 * The cron event: one attempt at sending the order's Purchase.
	 *
	 * @param mixed $order_id The order's ID.
	 */
	public static function send( $order_id ): void {
		$settings = Fbevents_Pixel_Settings::get();
		if ( ! self::enabled( $settings ) ) {
			self::log( 'warning', sprintf( 'order %d: server events are no longer configured; its Purchase is not sent', absint( $order_id ) ) );
			return;
		}
		$order = wc_get_order( absint( $order_id ) );
		if ( ! $order instanceof WC_Order || in_array( $order->get_meta( self::STATE_META ), self::FINAL_STATES, true ) ) {
			return;
		}
		$event_id = Fbevents_Pixel_Order_Event::event_id( $order );
		if ( time() - Fbevents_Pixel_Order_Event::event_time( $order ) > Fbevents_Pixel_Order_Event::MAX_AGE ) {
			self::finish( $order, 'expired', 'warning', __( 'Purchase not sent to the collector: it is older than the 7 days Meta accepts.', 'fbevents-pixel' ) );
			return;
		}
		$event = Fbevents_Pixel_Order_Event::server_event( $order, $settings );
		if ( null === $event ) {
			self::finish( $order, 'skipped', 'info', __( 'Purchase not sent to the collector: the visitor refused consent.', 'fbevents-pixel' ) );
			return;
		}
		$url = Fbevents_Pixel_Settings::server_events_url( $settings );
		if ( ! self::transport_allowed( $url ) ) {
			self::finish( $order, 'rejected', 'error', __( 'Purchase not sent: the collector\'s URL is plain http to another machine, and the event carries the customer\'s details. Use https (or the fbevents_pixel_allow_http filter).', 'fbevents-pixel' ) );
			return;
		}

		$attempt = (int) $order->get_meta( self::ATTEMPTS_META ) + 1;
		$order->update_meta_data( self::ATTEMPTS_META, $attempt );
		$response = wp_remote_post(
			$url,
			array(
				'timeout'     => self::TIMEOUT,
				'blocking'    => true,
				'redirection' => 0,
				'headers'     => array(
					'Content-Type'  => 'application/json',
					'Authorization' => 'Bearer ' . Fbevents_Pixel_Settings::server_key( $settings ),
				),
				'body'        => wp_json_encode( array( 'data' => array( $event ) ) ),
			)
		);

		if ( is_wp_error( $response ) ) {
			self::retry( $order, $attempt, $response->get_error_message(), 0 );
			return;
		}
		$code = (int) wp_remote_retrieve_response_code( $response );
		$body = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		if ( $code >= 200 && $code < 300 ) {
			$order->update_meta_data( self::SENT_META, time() );
			/* translators: %s: the event ID. */
			self::finish( $order, 'sent', 'info', sprintf( __( 'Purchase sent to the collector (event ID %s).', 'fbevents-pixel' ), $event_id ) );
			return;
		}
		$message = is_array( $body ) && isset( $body['error']['message'] ) && is_string( $body['error']['message'] ) ? $body['error']['message'] : (string) wp_remote_retrieve_response_message( $response );
		$message = 'HTTP ' . $code . ': ' . substr( $message, 0, 300 );
		if ( $code >= 500 || 408 === $code || 429 === $code ) {
			self::retry( $order, $attempt, $message, self::retry_after( $response ) );
			return;
		}
		/* translators: %s: the status code and the collector's error message. */
		self::finish( $order, 'rejected', 'error', sprintf( __( 'The collector refused the Purchase (%s); it is not sent again. Check the server key and the pixel ID.', 'fbevents-pixel' ), $message ) );
	}

	/**
	 * Schedules the next attempt after a failure the collector may recover from, or gives up once
	 * the event would be past Meta's 7 days.
	 *
	 * @param WC_Order $order       The order.
	 * @param int      $attempt     Attempts made, this one included.
	 * @param string   $why         What went wrong.
	 * @param int      $retry_after The collector's Retry-After in seconds, 0 if none.
	 */
	private static function retry( WC_Order $order, int $attempt, string $why, int $retry_after ): void {
		$delay = (int) min( self::RETRY_MAX, self::RETRY_BASE * ( 2 ** min( 16, $attempt - 1 ) ) );
		$delay = max( $delay + wp_rand( 0, (int) ( $delay / 10 ) ), min( $retry_after, DAY_IN_SECONDS ) );
		/**
		 * Seconds until the next attempt at sending an order's Purchase.
		 *
		 * @param int      $delay   60 s doubling per attempt up to an hour, plus up to 10%, or the
		 *                          collector's Retry-After if longer.
		 * @param int      $attempt Attempts made so far.
		 * @param WC_Order $order   The order.
		 */
		$delay = max( 1, (int) apply_filters( 'fbevents_pixel_retry_delay', $delay, $attempt, $order ) );
		if ( time() + $delay - Fbevents_Pixel_Order_Event::event_time( $order ) > Fbevents_Pixel_Order_Event::MAX_AGE ) {
			/* translators: 1: attempts, 2: the last error. */
			self::finish( $order, 'expired', 'error', sprintf( __( 'Purchase not sent to the collector after %1$d attempts (last: %2$s); Meta would no longer accept it.', 'fbevents-pixel' ), $attempt, $why ) );
			return;
		}
		$order->update_meta_data( self::STATE_META, 'retrying' );
		$order->save();
		wp_schedule_single_event( time() + $delay, self::HOOK, array( $order->get_id() ) );
		self::log( 'warning', sprintf( 'order %1$d: attempt %2$d failed (%3$s); next in %4$d s', $order->get_id(), $attempt, $why, $delay ) );
	}

	/**
	 * Records a final state on the order, with a private order note and a log line.
	 *
	 * @param WC_Order $order The order.
	 * @param string   $state One of FINAL_STATES.
	 * @param string   $level Log level.
	 * @param string   $note  What happened.
	 */
	private static function finish( WC_Order $order, string $state, string $level, string $note ): void {
		$order->update_meta_data( self::STATE_META, $state );
		$order->save();
		$order->add_order_note( $note );
		self::log( $level, sprintf( 'order %d: %s', $order->get_id(), $note ) );
	}

	/**
	 * Whether the customer's details may go to this URL: https, or http to this machine only.
	 *
	 * @param string $url Server events URL.
	 */
	private static function transport_allowed( string $url ): bool {
		$scheme = strtolower( (string) wp_parse_url( $url, PHP_URL_SCHEME ) );
		$host   = strtolower( trim( (string) wp_parse_url( $url, PHP_URL_HOST ), '[]' ) );
		$local  = 'localhost' === $host || '::1' === $host || 1 === preg_match( '/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/', $host );
		/**
		 * Whether server events may go over plain http to this URL (default: only to this machine).
		 *
		 * @param bool   $allowed Allowed.
		 * @param string $url     The URL.
		 */
		return 'https' === $scheme || ( 'http' === $scheme && (bool) apply_filters( 'fbevents_pixel_allow_http', $local, $url ) );
	}

	/**
	 * The Retry-After header in seconds (delta-seconds or an HTTP date), 0 when absent.
	 *
	 * @param array $response wp_remote_post()'s answer.
	 */
	private static function retry_after( array $response ): int {
		$header = trim( (string) wp_remote_retrieve_header( $response, 'retry-after' ) );
		if ( '' === $header ) {
			return 0;
		}
		if ( ctype_digit( $header ) ) {
			return (int) $header;
		}
		$at = strtotime( $header );
		return false === $at ? 0 : max( 0, $at - time() );
	}

	/**
	 * A line in WooCommerce's log (WooCommerce → Status → Logs, source fbevents-pixel). No key and
	 * no customer detail is ever logged.
	 *
	 * @param string $level   PSR-3 level.
	 * @param string $message The line.
	 */
	private static function log( string $level, string $message ): void {
		if ( function_exists( 'wc_get_logger' ) ) {
			wc_get_logger()->log( $level, $message, array( 'source' => 'fbevents-pixel' ) );
		}
	}
}
