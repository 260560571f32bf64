<?php
/**
 * The settings page (Settings → fbevents Pixel) and the one option it edits.
 *
 * Saving goes through WordPress's options.php: it checks the `manage_options` capability and the
 * nonce that settings_fields() prints, and refuses the request (403) without them. Every field is
 * validated here before it is stored; a bad value keeps the old one and says why.
 *
 * @package FbeventsPixel
 */

defined( 'ABSPATH' ) || exit;

/**
 * Registers the option, its sanitiser and the settings page.
 */
final class Fbevents_Pixel_Settings {

	/** Option name (one array) and settings group. */
	public const OPTION = 'fbevents_pixel';

	/** The Graph API version in the server-events path (the collector accepts Meta's path whole). */
	public const SERVER_API_VERSION = 'v24.0';

	/** Slug of the settings page. */
	public const PAGE = 'fbevents-pixel';

	/** Who may see and change the settings. */
	public const CAPABILITY = 'manage_options';

	/** Consent modes: send at once; hold everything until the banner grants; limited mode under GPC. */
	public const CONSENT_MODES = array( 'none', 'revoke', 'gpc' );

	/** What the server sends for an order whose visitor refused: nothing, or a Limited Data Use event. */
	public const REFUSED_MODES = array( 'none', 'ldu' );

	/**
	 * A wp-config.php constant that, when defined, is the server key (and the field is locked), so
	 * the credential can stay out of the database.
	 */
	public const SERVER_KEY_CONSTANT = 'FBEVENTS_PIXEL_SERVER_KEY';

	/**
	 * The settings with their defaults filled in.
	 *
	 * @return array{pixel_id: string, script_url: string, collector_url: string, advanced_matching: bool, consent_mode: string, server_url: string, server_key: string, refused_mode: string}
	 */
	public static function get(): array {
		$stored = get_option( self::OPTION, array() );
		$stored = is_array( $stored ) ? $stored : array();
		return array(
			'pixel_id'          => isset( $stored['pixel_id'] ) ? (string) $stored['pixel_id'] : '',
			'script_url'        => isset( $stored['script_url'] ) ? (string) $stored['script_url'] : '',
			'collector_url'     => isset( $stored['collector_url'] ) ? (string) $stored['collector_url'] : '',
			'advanced_matching' => ! empty( $stored['advanced_matching'] ),
			'consent_mode'      => isset( $stored['consent_mode'] ) && in_array( $stored['consent_mode'], self::CONSENT_MODES, true ) ? $stored['consent_mode'] : 'none',
			'server_url'        => isset( $stored['server_url'] ) ? (string) $stored['server_url'] : '',
			'server_key'        => isset( $stored['server_key'] ) ? (string) $stored['server_key'] : '',
			'refused_mode'      => isset( $stored['refused_mode'] ) && in_array( $stored['refused_mode'], self::REFUSED_MODES, true ) ? $stored['refused_mode'] : 'none',
		);
	}

	/** The server key in force: wp-config.php's constant if defined, else the stored one. */
	public static function server_key( array $settings ): string {
		if ( defined( self::SERVER_KEY_CONSTANT ) ) {
			return (string) constant( self::SERVER_KEY_CONSTANT );
		}
		return $settings['server_key'];
	}

	/**
	 * Where server events go: `{base}/{version}/{pixel}/events`, the collector's copy of Meta's
	 * Conversions API path. The base is the Server URL if set, else the Collector URL without its
	 * `tr/` (https://shop.example.com/tr/ → https://shop.example.com). '' when neither is set or
	 * there is no pixel ID.
	 *
	 * @param array $settings From get().
	 */
	public static function server_events_url( array $settings ): string {
		if ( '' === $settings['pixel_id'] ) {
			return '';
		}
		$base = '' !== $settings['server_url'] ? $settings['server_url'] : (string) preg_replace( '#/tr/?$#', '', $settings['collector_url'] );
		if ( '' === $base || ! wp_parse_url( $base, PHP_URL_HOST ) ) {
			return '';
		}
		$base = (string) preg_replace( '/[?#].*$/', '', $base );
		return untrailingslashit( $base ) . '/' . self::SERVER_API_VERSION . '/' . $settings['pixel_id'] . '/events';
	}

	/**
	 * The script URL the page loads: the one set, else fbevents.js at the collector's origin
	 * (the collector serves the pixel), else '' (nothing is printed).
	 *
	 * @param array $settings From get().
	 */
	public static function script_url( array $settings ): string {
		if ( '' !== $settings['script_url'] ) {
			return $settings['script_url'];
		}
		if ( '' === $settings['collector_url'] ) {
			return '';
		}
		$parts = wp_parse_url( $settings['collector_url'] );
		if ( empty( $parts['scheme'] ) || empty( $parts['host'] ) ) {
			return '';
		}
		$port = isset( $parts['port'] ) ? ':' . $parts['port'] : '';
		return $parts['scheme'] . '://' . $parts['host'] . $port . '/fbevents.js';
	}

	/** Hooks the settings into the admin. */
	public static function register(): void {
		add_action( 'admin_init', array( self::class, 'register_setting' ) );
		add_action( 'admin_menu', array( self::class, 'add_page' ) );
	}

	/** The option, its sanitiser and its fields. */
	public static function register_setting(): void {
		register_setting(
			self::OPTION,
			self::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( self::class, 'sanitize' ),
				'default'           => array(),
			)
		);

		add_settings_section( 'fbevents_pixel_main', __( 'Pixel', 'fbevents-pixel' ), '__return_false', self::PAGE );
		$fields = array(
			'pixel_id'          => __( 'Pixel ID', 'fbevents-pixel' ),
			'collector_url'     => __( 'Collector URL', 'fbevents-pixel' ),
			'script_url'        => __( 'Script URL', 'fbevents-pixel' ),
			'advanced_matching' => __( 'Advanced matching', 'fbevents-pixel' ),
			'consent_mode'      => __( 'Consent', 'fbevents-pixel' ),
		);
		self::add_fields( 'fbevents_pixel_main', $fields );

		add_settings_section( 'fbevents_pixel_server', __( 'WooCommerce orders from the server', 'fbevents-pixel' ), array( self::class, 'server_section' ), self::PAGE );
		$fields = array(
			'server_key'   => __( 'Server key', 'fbevents-pixel' ),
			'server_url'   => __( 'Server URL', 'fbevents-pixel' ),
			'refused_mode' => __( 'Visitors who refused', 'fbevents-pixel' ),
		);
		self::add_fields( 'fbevents_pixel_server', $fields );
	}

	/**
	 * Registers one settings field per `key => label` in `$section`, each drawn by `field_{key}`.
	 *
	 * @param string               $section Settings section ID.
	 * @param array<string,string> $fields  Option key => label.
	 */
	private static function add_fields( $section, array $fields ) {
		foreach ( $fields as $key => $label ) {
			add_settings_field(
				'fbevents_pixel_' . $key,
				$label,
				array( self::class, 'field_' . $key ),
				self::PAGE,
				$section,
				array( 'label_for' => 'fbevents_pixel_' . $key )
			);
		}
	}

	/** Settings → fbevents Pixel. */
	public static function add_page(): void {
		add_options_page(
			__( 'fbevents Pixel', 'fbevents-pixel' ),
			__( 'fbevents Pixel', 'fbevents-pixel' ),
			self::CAPABILITY,
			self::PAGE,
			array( self::class, 'render_page' )
		);
	}

	/**
	 * Validates what the form sent. A field that does not validate keeps its stored value and
	 * adds an error message that names it.
	 *
	 * @param mixed $input The submitted fbevents_pixel[...] fields (options.php has unslashed them).
	 * @return array The option to store.
	 */
	public static function sanitize( $input ): array {
		$out   = self::get();
		$input = is_array( $input ) ? $input : array();

		$pixel_id = isset( $input['pixel_id'] ) ? trim( (string) $input['pixel_id'] ) : '';
		if ( '' === $pixel_id || preg_match( '/^[0-9]{1,26}$/', $pixel_id ) ) {
			$out['pixel_id'] = $pixel_id;
		} else {
			add_settings_error( self::OPTION, 'pixel_id', __( 'The pixel ID must be 1 to 26 digits; the previous one is kept.', 'fbevents-pixel' ) );
		}

		foreach ( array( 'collector_url', 'script_url', 'server_url' ) as $key ) {
			$url = isset( $input[ $key ] ) ? trim( (string) $input[ $key ] ) : '';
			if ( '' === $url ) {
				$out[ $key ] = '';
				continue;
			}
			$clean = esc_url_raw( $url, array( 'http', 'https' ) );
			if ( '' !== $clean && wp_parse_url( $clean, PHP_URL_HOST ) ) {
				$out[ $key ] = $clean;
			} else {
				/* translators: %s: the field's name. */
				add_settings_error( self::OPTION, $key, sprintf( __( '%s must be an http or https URL; the previous one is kept.', 'fbevents-pixel' ), $key ) );
			}
		}

		$out['advanced_matching'] = ! empty( $input['advanced_matching'] );

		$mode = isset( $input['consent_mode'] ) ? (string) $input['consent_mode'] : 'none';
		if ( in_array( $mode, self::CONSENT_MODES, true ) ) {
			$out['consent_mode'] = $mode;
		} else {
			add_settings_error( self::OPTION, 'consent_mode', __( 'Unknown consent mode; the previous one is kept.', 'fbevents-pixel' ) );
		}

		$mode = isset( $input['refused_mode'] ) ? (string) $input['refused_mode'] : 'none';
		if ( in_array( $mode, self::REFUSED_MODES, true ) ) {
			$out['refused_mode'] = $mode;
		} else {
			add_settings_error( self::OPTION, 'refused_mode', __( 'Unknown choice for visitors who refused; the previous one is kept.', 'fbevents-pixel' ) );
		}

		// The key is never printed back into the form: an empty field keeps the stored one.
		$key = isset( $input['server_key'] ) ? trim( (string) $input['server_key'] ) : '';
		if ( ! empty( $input['server_key_clear'] ) ) {
			$out['server_key'] = '';
		} elseif ( '' !== $key ) {
			if ( preg_match( '/^[\x21-\x7e]{8,512}$/', $key ) ) {
				$out['server_key'] = $key;
			} else {
				add_settings_error( self::OPTION, 'server_key', __( 'The server key must be 8 to 512 printable characters without spaces; the previous one is kept.', 'fbevents-pixel' ) );
			}
		}
		return $out;
	}

	/** The page itself; options.php does the saving. */
	public static function render_page(): void {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage the pixel.', 'fbevents-pixel' ), 403 );
		}
		echo '<div class="wrap"><h1>' . esc_html( get_admin_page_title() ) . '</h1>';
		echo '<form method="post" action="' . esc_url( admin_url( 'options.php' ) ) . '">';
		settings_fields( self::OPTION );
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form></div>';
	}

	/** Pixel ID field. */
	public static function field_pixel_id(): void {
		self::text_field( 'pixel_id', 'text', '1234567890', __( 'Your Meta pixel ID (digits only).', 'fbevents-pixel' ) );
	}

	/** Collector URL field. */
	public static function field_collector_url(): void {
		self::text_field( 'collector_url', 'url', 'https://shop.example.com/tr/', __( 'Where beacons go (fbq(\'set\', \'endpoint\', …)). Empty: Meta\'s own endpoint.', 'fbevents-pixel' ) );
	}

	/** Script URL field. */
	public static function field_script_url(): void {
		self::text_field( 'script_url', 'url', 'https://shop.example.com/fbevents.js', __( 'The pixel script (fbevents.js, with fbevents.wasm next to it). Empty: /fbevents.js at the collector\'s origin.', 'fbevents-pixel' ) );
	}

	/** Advanced matching checkbox. */
	public static function field_advanced_matching(): void {
		$settings = self::get();
		printf(
			'<label><input type="checkbox" id="fbevents_pixel_advanced_matching" name="%1$s[advanced_matching]" value="1" %2$s> %3$s</label>',
			esc_attr( self::OPTION ),
			checked( $settings['advanced_matching'], true, false ),
			esc_html__( 'Send the logged-in customer\'s e-mail and name, hashed in their browser. Only their own page carries them, and that page is marked uncacheable.', 'fbevents-pixel' )
		);
	}

	/** What the server-events section is about. */
	public static function server_section(): void {
		echo '<p>' . esc_html__( 'With WooCommerce active, a pixel ID, a collector and a server key, every paid order is also sent from this server to the collector (Conversions API format), with the same event ID as the browser\'s Purchase, so the collector and Meta keep one event. Sent from WP-Cron, never during a page.', 'fbevents-pixel' ) . '</p>';
	}

	/** Server key field: a password input that never shows the stored key. */
	public static function field_server_key(): void {
		$settings = self::get();
		if ( defined( self::SERVER_KEY_CONSTANT ) ) {
			echo '<p class="description">' . esc_html(
				/* translators: %s: the constant's name. */
				sprintf( __( 'Set in wp-config.php (%s).', 'fbevents-pixel' ), self::SERVER_KEY_CONSTANT )
			) . '</p>';
			return;
		}
		$stored = '' !== $settings['server_key'];
		printf(
			'<input type="password" class="regular-text" id="fbevents_pixel_server_key" name="%1$s[server_key]" value="" autocomplete="new-password" placeholder="%2$s"><p class="description">%3$s</p>',
			esc_attr( self::OPTION ),
			esc_attr( $stored ? __( 'A key is stored; type a new one to replace it', 'fbevents-pixel' ) : '' ),
			esc_html__( 'The collector\'s --server-key (or the pixel\'s Conversions API token). Stored here unless wp-config.php defines FBEVENTS_PIXEL_SERVER_KEY. Empty: no server events.', 'fbevents-pixel' )
		);
		if ( $stored ) {
			printf(
				'<label><input type="checkbox" id="fbevents_pixel_server_key_clear" name="%s[server_key_clear]" value="1"> %s</label>',
				esc_attr( self::OPTION ),
				esc_html__( 'Remove the stored key', 'fbevents-pixel' )
			);
		}
	}

	/** Server URL field. */
	public static function field_server_url(): void {
		self::text_field( 'server_url', 'url', 'http://127.0.0.1:8080', __( 'Where this server reaches the collector, if not at the Collector URL\'s address (an internal address, say). https, or http to this machine only.', 'fbevents-pixel' ) );
	}

	/** Refused-visitor select. */
	public static function field_refused_mode(): void {
		$settings = self::get();
		$labels   = array(
			'none' => __( 'Send nothing for their orders', 'fbevents-pixel' ),
			'ldu'  => __( 'Send the Purchase with Limited Data Use: amount and products, no name, e-mail, address or browser ID', 'fbevents-pixel' ),
		);
		printf( '<select id="fbevents_pixel_refused_mode" name="%s[refused_mode]">', esc_attr( self::OPTION ) );
		foreach ( $labels as $value => $label ) {
			printf( '<option value="%1$s" %2$s>%3$s</option>', esc_attr( $value ), selected( $settings['refused_mode'], $value, false ), esc_html( $label ) );
		}
		echo '</select>';
	}

	/** Consent mode select. */
	public static function field_consent_mode(): void {
		$settings = self::get();
		$labels   = array(
			'none'   => __( 'None: send events at once', 'fbevents-pixel' ),
			'revoke' => __( 'Hold every event until the consent banner calls fbq(\'consent\', \'grant\')', 'fbevents-pixel' ),
			'gpc'    => __( 'Honour Global Privacy Control (limited mode for visitors who send it)', 'fbevents-pixel' ),
		);
		printf( '<select id="fbevents_pixel_consent_mode" name="%s[consent_mode]">', esc_attr( self::OPTION ) );
		foreach ( $labels as $value => $label ) {
			printf( '<option value="%1$s" %2$s>%3$s</option>', esc_attr( $value ), selected( $settings['consent_mode'], $value, false ), esc_html( $label ) );
		}
		echo '</select>';
	}

	/**
	 * One text or URL input.
	 *
	 * @param string $key         Setting key.
	 * @param string $type        Input type.
	 * @param string $placeholder Example value.
	 * @param string $help        Line under the field.
	 */
	private static function text_field( string $key, string $type, string $placeholder, string $help ): void {
		$settings = self::get();
		printf(
			'<input type="%1$s" class="regular-text" id="fbevents_pixel_%2$s" name="%3$s[%2$s]" value="%4$s" placeholder="%5$s"><p class="description">%6$s</p>',
			esc_attr( $type ),
			esc_attr( $key ),
			esc_attr( self::OPTION ),
			esc_attr( $settings[ $key ] ),
			esc_attr( $placeholder ),
			esc_html( $help )
		);
	}
}
