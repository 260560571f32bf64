<?php
/**
 * Test fixture (a must-use plugin in the throwaway WordPress only): stands in for WooCommerce,
 * which cannot be installed here. `?test_order=N` fires `woocommerce_thankyou` from the page's
 * footer as WooCommerce's thank-you template does, and `?test_early_order=N` fires the plugin's
 * action before wp_head; the handler is the README's snippet with the order's values filled in.
 *
 * @package FbeventsPixel
 */

// phpcs:disable WordPress.Security.NonceVerification.Recommended -- a test fixture reading its own query.
add_action(
	'woocommerce_thankyou',
	function ( $order_id ) {
		do_action(
			'fbevents_pixel_purchase',
			$order_id,
			'25.50',
			'eur',
			array(
				'content_ids'  => array( 'sku-1', 'sku-2' ),
				'content_name' => '</script><script>window.injected=1</script>"\'&',
				'num_items'    => 2,
			)
		);
	}
);
add_action(
	'wp_footer',
	function () {
		if ( isset( $_GET['test_order'] ) ) {
			do_action( 'woocommerce_thankyou', sanitize_text_field( wp_unslash( $_GET['test_order'] ) ) );
		}
	}
);
add_action(
	'template_redirect',
	function () {
		if ( isset( $_GET['test_early_order'] ) ) {
			do_action( 'fbevents_pixel_purchase', sanitize_text_field( wp_unslash( $_GET['test_early_order'] ) ), 7, 'USD' );
		}
	}
);
