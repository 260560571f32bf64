<?php
/**
 * Test fixture (a must-use plugin in the throwaway WordPress only): a shop that is not WooCommerce
 * firing the plugin's PHP action. `?test_order=N` fires `fbevents_pixel_purchase` from the page's
 * footer, as a shop's order-confirmation template would, with custom data that tries to close the
 * script element; `?test_early_order=N` fires it before wp_head. (WooCommerce's own thank-you page
 * is tested against the real store: tests/integrations/woocommerce.test.mjs.)
 *
 * @package FbeventsPixel
 */

// phpcs:disable WordPress.Security.NonceVerification.Recommended -- a test fixture reading its own query.
add_action(
	'wp_footer',
	function () {
		if ( isset( $_GET['test_order'] ) ) {
			do_action(
				'fbevents_pixel_purchase',
				sanitize_text_field( wp_unslash( $_GET['test_order'] ) ),
				'25.50',
				'eur',
				array(
					'content_ids'  => array( 'sku-1', 'sku-2' ),
					'content_name' => '</script><script>window.injected=1</script>"\'&',
					'num_items'    => 2,
				)
			);
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
