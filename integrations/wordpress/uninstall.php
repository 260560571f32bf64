<?php
/**
 * Deleting the plugin deletes its option, its scheduled sends and what it kept on orders (the
 * `_fbevents_*` order meta, in WooCommerce 6.6's order storage: posts and their meta).
 *
 * @package FbeventsPixel
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'fbevents_pixel' );
wp_unschedule_hook( 'fbevents_pixel_send_purchase' );
foreach ( array( '_fbevents_browser', '_fbevents_server_state', '_fbevents_server_attempts', '_fbevents_server_sent_at' ) as $fbevents_pixel_key ) {
	delete_post_meta_by_key( $fbevents_pixel_key );
}
