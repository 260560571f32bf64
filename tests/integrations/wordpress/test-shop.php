<?php
/**
 * Test fixture (a must-use plugin in the throwaway WordPress only): what a test needs and a shop
 * would not have.
 *
 * - Retries come after 1 second instead of a minute, so the collector-down test takes seconds.
 * - WooCommerce Admin (the React dashboard, its onboarding and remote inbox) is off: it is not what
 *   is tested, and it would fetch from the network and slow every admin page.
 *
 * @package FbeventsPixel
 */

add_filter( 'fbevents_pixel_retry_delay', static fn (): int => 1 );
add_filter( 'woocommerce_admin_disabled', '__return_true' );
