<?php
/**
 * Plugin Name:          fbevents Pixel
 * Description:          Meta Pixel through the open-source fbevents pixel (Rust/WebAssembly) and its first-party collector: base code, PageView on every page, advanced matching for logged-in customers, consent modes, a Purchase hook for shops, and WooCommerce orders sent from the server.
 * Version:              0.2.0
 * Requires at least:    6.1
 * Requires PHP:         8.2
 * License:              MIT OR Apache-2.0
 * Text Domain:          fbevents-pixel
 * WC requires at least: 6.6
 * WC tested up to:      6.6
 *
 * @package FbeventsPixel
 */

defined( 'ABSPATH' ) || exit;

require_once __DIR__ . '/includes/class-fbevents-pixel-settings.php';
require_once __DIR__ . '/includes/class-fbevents-pixel.php';
require_once __DIR__ . '/includes/class-fbevents-pixel-order-event.php';
require_once __DIR__ . '/includes/class-fbevents-pixel-server-events.php';
require_once __DIR__ . '/includes/class-fbevents-pixel-woocommerce.php';

Fbevents_Pixel_Settings::register();
Fbevents_Pixel::register();
Fbevents_Pixel_Server_Events::register();
Fbevents_Pixel_WooCommerce::register();

// Deactivated: no Purchase is left scheduled (a later activation sends again only what is paid then).
register_deactivation_hook(
	__FILE__,
	static function (): void {
		wp_unschedule_hook( Fbevents_Pixel_Server_Events::HOOK );
	}
);
