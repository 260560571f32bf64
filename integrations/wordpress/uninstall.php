<?php
/**
 * Deleting the plugin deletes its one option; nothing else is stored.
 *
 * @package FbeventsPixel
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'fbevents_pixel' );
