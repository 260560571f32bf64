<?php
/**
 * Test only: turns the throwaway WordPress into a small WooCommerce store, run once with WordPress
 * loaded (tests/integrations/wordpress/stack.mjs, after its install screen). Idempotent: a second
 * run changes nothing. Prints one JSON line: the product's ID and the checkout's URL.
 *
 * WooCommerce (linked into wp-content/plugins/woocommerce) is activated as the Plugins screen would
 * (activate_plugin runs its installer: tables, pages, roles); then the store: US dollars, based in
 * California, selling to the United States only (the checkout's country is then fixed), cash on
 * delivery and cheque enabled, and one virtual product (no shipping to set up) at 12.50.
 *
 * @package FbeventsPixel
 */

// phpcs:disable WordPress.PHP.DevelopmentFunctions -- a test script that reports on stdout.

require_once ABSPATH . 'wp-admin/includes/plugin.php';
if ( ! is_plugin_active( 'woocommerce/woocommerce.php' ) ) {
	$result = activate_plugin( 'woocommerce/woocommerce.php' );
	if ( is_wp_error( $result ) ) {
		fwrite( STDERR, 'WooCommerce did not activate: ' . $result->get_error_message() . "\n" );
		exit( 1 );
	}
}
if ( ! function_exists( 'WC' ) ) {
	fwrite( STDERR, "WooCommerce is active but not loaded\n" );
	exit( 1 );
}
if ( ! get_option( 'woocommerce_checkout_page_id' ) ) {
	WC_Install::install(); // Tables and pages, if activation could not run the installer.
}
// Its first admin page would otherwise redirect the administrator to the setup wizard.
delete_transient( '_wc_activation_redirect' );

$options = array(
	'woocommerce_currency'                     => 'USD',
	'woocommerce_default_country'              => 'US:CA',
	'woocommerce_allowed_countries'            => 'specific',
	'woocommerce_specific_allowed_countries'   => array( 'US' ),
	'woocommerce_ship_to_countries'            => 'disabled',
	'woocommerce_calc_taxes'                   => 'no',
	'woocommerce_enable_guest_checkout'        => 'yes',
	'woocommerce_enable_checkout_login_reminder' => 'no',
	'woocommerce_cart_redirect_after_add'      => 'no',
	'woocommerce_allow_tracking'               => 'no',
	'woocommerce_show_marketplace_suggestions' => 'no',
	'woocommerce_onboarding_profile'           => array( 'skipped' => true ),
	'woocommerce_task_list_hidden'             => 'yes',
	'woocommerce_cod_settings'                 => array(
		'enabled'            => 'yes',
		'title'              => 'Cash on delivery',
		'description'        => 'Pay with cash upon delivery.',
		'instructions'       => '',
		'enable_for_methods' => array(),
		'enable_for_virtual' => 'yes',
	),
	'woocommerce_cheque_settings'              => array(
		'enabled'      => 'yes',
		'title'        => 'Check payments',
		'description'  => 'Send a check.',
		'instructions' => '',
	),
);
foreach ( $options as $name => $value ) {
	update_option( $name, $value );
}

$found = wc_get_product_id_by_sku( 'MUG-1' );
if ( ! $found ) {
	$product = new WC_Product_Simple();
	$product->set_name( 'fbevents mug' );
	$product->set_sku( 'MUG-1' );
	$product->set_regular_price( '12.50' );
	$product->set_virtual( true );
	$product->set_status( 'publish' );
	$product->set_catalog_visibility( 'visible' );
	$found = $product->save();
}

echo wp_json_encode(
	array(
		'product'  => (int) $found,
		'checkout' => wc_get_checkout_url(),
		'version'  => WC()->version,
	)
) . "\n";
