//! Decimal amounts as users type them, and back.
//!
//! An amount is typed in whole units of the token (`1.5` ether, `250` USDC) and held as an
//! integer of the token's smallest unit: on L2 every token has 18 decimals; on a chain, a
//! token has the decimals its contract registered there. Only plain decimal notation is
//! taken (digits, at most one point with digits on both sides): no sign, exponent,
//! separators or hex, so that what is sent is exactly what was typed.

use alloy_primitives::U256;

/// Why an amount was refused. The caller adds which token and chain the decimals are for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not plain decimal notation.
    #[error("amount `{0}` is not a decimal number (write it like 12 or 0.5)")]
    Syntax(String),
    /// More digits after the point than the token has decimals.
    #[error("amount `{text}` has {given} decimals, but {what} has {max}")]
    TooPrecise {
        /// As typed.
        text: String,
        /// Digits after the point (trailing zeros not counted).
        given: usize,
        /// The token's decimals.
        max: u8,
        /// The token, and where its decimals apply.
        what: String,
    },
    /// Too large for the integer type it is sent as.
    #[error("amount `{0}` is too large")]
    TooLarge(String),
    /// Zero, where something must move.
    #[error("amount `{0}` is zero")]
    Zero(String),
}

/// Parses `text` as a decimal number of units with `decimals` decimals: `"1.5"` with 6
/// decimals is 1 500 000. `what` names the token and chain for the precision error
/// ("token 1 on chain alpha"). Refuses zero.
pub fn parse_amount(text: &str, decimals: u8, what: &str) -> Result<U256, AmountError> {
    let syntax = || AmountError::Syntax(text.to_owned());
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(fraction)) {
        return Err(syntax());
    }
    // Trailing zeros carry no precision: `1.500000` is fine for a 6-decimal token.
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > usize::from(decimals) {
        return Err(AmountError::TooPrecise {
            text: text.to_owned(),
            given: fraction.len(),
            max: decimals,
            what: what.to_owned(),
        });
    }
    let too_large = || AmountError::TooLarge(text.to_owned());
    let scaled_digits = format!(
        "{whole}{fraction}{}",
        "0".repeat(usize::from(decimals) - fraction.len())
    );
    // 78 digits exceed any U256; stop before the parser has to say so less clearly.
    let trimmed = scaled_digits.trim_start_matches('0');
    if trimmed.len() > 78 {
        return Err(too_large());
    }
    let value = if trimmed.is_empty() {
        U256::ZERO
    } else {
        U256::from_str_radix(trimmed, 10).map_err(|_| too_large())?
    };
    if value.is_zero() {
        return Err(AmountError::Zero(text.to_owned()));
    }
    Ok(value)
}

/// [`parse_amount`] for an L2 amount (18 decimals, at most `u128::MAX` units).
pub fn parse_l2_amount(text: &str, decimals: u8, what: &str) -> Result<u128, AmountError> {
    let value = parse_amount(
        text,
        decimals.min(manyfold_types::amount::L2_DECIMALS),
        what,
    )?;
    // Fewer local decimals than L2's: the typed value is in local precision; scale it up.
    let scale = U256::from(10u8).pow(U256::from(
        manyfold_types::amount::L2_DECIMALS - decimals.min(manyfold_types::amount::L2_DECIMALS),
    ));
    value
        .checked_mul(scale)
        .filter(|v| *v <= U256::from(u128::MAX))
        .map(|v| v.to::<u128>())
        .ok_or_else(|| AmountError::TooLarge(text.to_owned()))
}

/// `value` units with `decimals` decimals as a decimal number, without trailing zeros:
/// 1 500 000 with 6 decimals is `1.5`.
pub fn format_amount(value: U256, decimals: u8) -> String {
    let digits = value.to_string();
    let decimals = usize::from(decimals);
    if decimals == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (whole, fraction) = padded.split_at(padded.len() - decimals);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{fraction}")
    }
}

/// [`format_amount`] of an 18-decimal L2 amount.
pub fn format_l2(value: u128) -> String {
    format_amount(U256::from(value), manyfold_types::amount::L2_DECIMALS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(x: u128) -> U256 {
        U256::from(x)
    }

    #[test]
    fn decimals_scale_to_units() {
        assert_eq!(parse_amount("1", 18, "t").unwrap(), u(10u128.pow(18)));
        assert_eq!(parse_amount("1.5", 6, "t").unwrap(), u(1_500_000));
        assert_eq!(parse_amount("0.000001", 6, "t").unwrap(), u(1));
        assert_eq!(parse_amount("1.500000", 6, "t").unwrap(), u(1_500_000));
        assert_eq!(parse_amount("007", 0, "t").unwrap(), u(7));
        assert_eq!(parse_amount("12.0", 0, "t").unwrap(), u(12));
    }

    #[test]
    fn too_many_decimals_names_the_token() {
        let err = parse_amount("1.0000001", 6, "token 1 on chain alpha").unwrap_err();
        assert_eq!(
            err,
            AmountError::TooPrecise {
                text: "1.0000001".into(),
                given: 7,
                max: 6,
                what: "token 1 on chain alpha".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "amount `1.0000001` has 7 decimals, but token 1 on chain alpha has 6"
        );
        assert!(matches!(
            parse_amount("0.5", 0, "t"),
            Err(AmountError::TooPrecise { .. })
        ));
    }

    #[test]
    fn only_plain_decimals_are_taken() {
        for bad in [
            "", ".", "1.", ".5", "-1", "+1", "1e18", "0x10", "1,5", "1 000", "1.2.3", " 1", "½",
        ] {
            assert_eq!(
                parse_amount(bad, 18, "t"),
                Err(AmountError::Syntax(bad.into())),
                "{bad:?}"
            );
        }
        for zero in ["0", "0.0", "000"] {
            assert_eq!(
                parse_amount(zero, 18, "t"),
                Err(AmountError::Zero(zero.into()))
            );
        }
        let huge = "9".repeat(80);
        assert_eq!(
            parse_amount(&huge, 0, "t"),
            Err(AmountError::TooLarge(huge.clone()))
        );
        // U256::MAX has 78 digits; one more than it overflows in the parser.
        let above_max =
            "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert!(matches!(
            parse_amount(above_max, 0, "t"),
            Err(AmountError::TooLarge(_))
        ));
    }

    #[test]
    fn l2_amounts_use_the_local_precision_and_fit_u128() {
        assert_eq!(
            parse_l2_amount("1.5", 18, "t").unwrap(),
            15 * 10u128.pow(17)
        );
        // A 6-decimal token: 1.5 is still 1.5 * 10^18 L2 units, but 1.0000001 is refused.
        assert_eq!(parse_l2_amount("1.5", 6, "t").unwrap(), 15 * 10u128.pow(17));
        assert!(matches!(
            parse_l2_amount("1.0000001", 6, "t"),
            Err(AmountError::TooPrecise { max: 6, .. })
        ));
        // u128::MAX is about 3.4e38 units: 3.4e20 whole tokens.
        assert!(matches!(
            parse_l2_amount("400000000000000000000", 18, "t"),
            Err(AmountError::TooLarge(_))
        ));
        assert!(parse_l2_amount("300000000000000000000", 18, "t").is_ok());
    }

    #[test]
    fn formatting_round_trips() {
        assert_eq!(format_amount(u(1_500_000), 6), "1.5");
        assert_eq!(format_amount(u(1), 6), "0.000001");
        assert_eq!(format_amount(U256::ZERO, 18), "0");
        assert_eq!(format_amount(u(7), 0), "7");
        assert_eq!(format_amount(u(10u128.pow(18)), 18), "1");
        assert_eq!(format_l2(123_456_789_000_000_000_000), "123.456789");
        for (value, decimals) in [(1u128, 18u8), (10, 1), (123_456, 3), (u128::MAX, 18)] {
            let text = format_amount(u(value), decimals);
            if value != 0 {
                assert_eq!(parse_amount(&text, decimals, "t").unwrap(), u(value));
            }
        }
    }
}
