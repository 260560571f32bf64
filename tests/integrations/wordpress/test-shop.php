<?php
/**
 * Test fixture (a must-use plugin in the throwaway WordPress only): what a test needs and a shop
 * would not have.
 *
 * - Retries come after 1 second instead of a minute, so the collector-down test takes seconds.
 * - WooCommerce Admin (the React dashboard, its onboarding and remote inbox) is off: it is not what
 *   is tested, and it would fetch from the network and slow every admin page.
 * - A consent banner reduced to what the plugin sees of one: once the visitor agreed (its own
 *   cookie, `test_banner=granted`), every page calls fbq('consent', 'grant') in the head, right
 *   after the plugin's base code and before the pixel's library has loaded.
 *
 * @package FbeventsPixel
 */

add_filter( 'fbevents_pixel_retry_delay', static fn (): int => 1 );
add_filter( 'woocommerce_admin_disabled', '__return_true' );
add_action(
	'wp_head',
	static function (): void {
		if ( isset( $_COOKIE['test_banner'] ) && 'granted' === $_COOKIE['test_banner'] ) { // phpcs:ignore WordPress.Security.ValidatedSanitizedInput -- compared with a constant.
			wp_print_inline_script_tag( "fbq('consent','grant');" );
		}
	},
	2
);
