<?php
/**
 * Plugin Name:       fbevents Pixel
 * Description:       Meta Pixel through the open-source fbevents pixel (Rust/WebAssembly) and its first-party collector: base code, PageView on every page, advanced matching for logged-in customers, consent modes, and a Purchase hook for shops.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      8.2
 * License:           MIT OR Apache-2.0
 * Text Domain:       fbevents-pixel
 *
 * @package FbeventsPixel
 */

defined( 'ABSPATH' ) || exit;

require_once __DIR__ . '/includes/class-fbevents-pixel-settings.php';
require_once __DIR__ . '/includes/class-fbevents-pixel.php';

Fbevents_Pixel_Settings::register();
Fbevents_Pixel::register();
