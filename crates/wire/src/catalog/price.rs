//! What a call costs at an offer's prices: integer micro-dollars, each kind of token at its
//! own price, rounded up once at the end so that no part of a call is ever free.

use crate::canonical::pb::Usage;

use super::Micros;

/// An offer's prices alone: small and `Copy`, for pricing a call after it was served.
/// Every price is in micro-dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// Input neither read from nor written to the prompt cache.
    pub input_per_million: Micros,
    /// Output that is not reasoning.
    pub output_per_million: Micros,
    pub cache_read_per_million: Micros,
    /// Cache writes with a 5-minute lifetime.
    pub cache_write_per_million: Micros,
    pub cache_write_1h_per_million: Micros,
    pub reasoning_per_million: Micros,
}

/// A usage's tokens split into the parts that are priced apart; the parts never overlap,
/// whatever the counts said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Billed {
    pub input: u64,
    pub cache_read: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub output: u64,
    pub reasoning: u64,
}

impl Billed {
    /// Splits `usage` (whose input includes cache reads and writes, whose output includes
    /// reasoning, whose cache writes include the 1-hour ones). Inconsistent counts saturate:
    /// a part larger than its whole is billed as the part, the rest of the whole as none,
    /// so no token is billed twice and none goes negative.
    pub fn of(usage: &Usage) -> Self {
        let cache_write = usage.cache_write_tokens.max(usage.cache_write_1h_tokens);
        Self {
            input: usage
                .input_tokens
                .saturating_sub(usage.cache_read_tokens)
                .saturating_sub(cache_write),
            cache_read: usage.cache_read_tokens,
            cache_write_5m: cache_write - usage.cache_write_1h_tokens,
            cache_write_1h: usage.cache_write_1h_tokens,
            output: usage.output_tokens.saturating_sub(usage.reasoning_tokens),
            reasoning: usage.reasoning_tokens,
        }
    }
}

impl Price {
    /// The cost of a call as its usage reports it: every kind of token at its own price,
    /// rounded up once to the next micro-dollar (a call is never free, a sum never drifts).
    pub fn usage_cost(&self, usage: &Usage) -> Micros {
        let billed = Billed::of(usage);
        let parts = [
            (billed.input, self.input_per_million),
            (billed.cache_read, self.cache_read_per_million),
            (billed.cache_write_5m, self.cache_write_per_million),
            (billed.cache_write_1h, self.cache_write_1h_per_million),
            (billed.output, self.output_per_million),
            (billed.reasoning, self.reasoning_per_million),
        ];
        // Each product of two u64s fits a u128; their sum saturates (far past any u64 cost,
        // which is clamped below). No rounding until the end.
        let total = parts.iter().fold(0u128, |sum, &(tokens, price)| {
            sum.saturating_add(u128::from(tokens) * u128::from(price))
        });
        u64::try_from(total.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }

    /// The cost of a call with plain input and output only (no cache, no reasoning).
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> Micros {
        self.usage_cost(&Usage {
            input_tokens,
            output_tokens,
            ..Usage::default()
        })
    }

    /// The most a call with this much input and output may cost, before anyone knows how
    /// much of it the provider will cache or spend on reasoning: each token at the dearest
    /// price it could be billed at. What credit holds are sized by.
    pub fn ceiling(&self, input_tokens: u64, output_tokens: u64) -> Micros {
        let dearest = Self {
            input_per_million: self
                .input_per_million
                .max(self.cache_read_per_million)
                .max(self.cache_write_per_million)
                .max(self.cache_write_1h_per_million),
            output_per_million: self.output_per_million.max(self.reasoning_per_million),
            ..*self
        };
        dearest.cost(input_tokens, output_tokens)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::{Billed, Price, Usage};

    /// Distinct prices, so that a token billed at the wrong one shows.
    const PRICE: Price = Price {
        input_per_million: 3_000_000,
        output_per_million: 15_000_000,
        cache_read_per_million: 300_000,
        cache_write_per_million: 3_750_000,
        cache_write_1h_per_million: 6_000_000,
        reasoning_per_million: 20_000_000,
    };

    fn usage(
        input: u64,
        read: u64,
        write: u64,
        write_1h: u64,
        output: u64,
        reasoning: u64,
    ) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: read,
            cache_write_tokens: write,
            cache_write_1h_tokens: write_1h,
            reasoning_tokens: reasoning,
            total_tokens: 0,
        }
    }

    #[test]
    fn each_kind_of_token_at_its_own_price() {
        // 1000 input: 600 read, 300 written (100 for an hour), 100 plain; 500 output: 200
        // reasoning, 300 plain.
        let cost = PRICE.usage_cost(&usage(1000, 600, 300, 100, 500, 200));
        let by_hand = 100 * 3_000_000 // plain input
            + 600 * 300_000 // cache reads
            + 200 * 3_750_000 // 5-minute writes
            + 100 * 6_000_000 // 1-hour writes
            + 300 * 15_000_000 // plain output
            + 200 * 20_000_000; // reasoning
        assert_eq!(by_hand % 1_000_000, 0);
        assert_eq!(cost, by_hand / 1_000_000);
        assert_eq!(cost, 10_330);
    }

    #[test]
    fn rounded_up_once_at_the_end() {
        // 1 cache read at $0.30/M (0.3 micro-dollars) and 1 plain input at $3/M (3): 3.3 -> 4,
        // where rounding each part up would give 5.
        assert_eq!(PRICE.usage_cost(&usage(2, 1, 0, 0, 0, 0)), 4);
        assert_eq!(PRICE.usage_cost(&usage(1, 1, 0, 0, 0, 0)), 1, "never free");
        assert_eq!(PRICE.usage_cost(&Usage::default()), 0);
    }

    #[test]
    fn inconsistent_counts_saturate_and_bill_no_token_twice() {
        // More cached than the input said: every part at its price, no plain input.
        assert_eq!(
            Billed::of(&usage(5, 4, 3, 0, 0, 0)),
            Billed {
                cache_read: 4,
                cache_write_5m: 3,
                ..Billed::default()
            }
        );
        // More 1-hour writes than writes: the 1-hour ones, none for 5 minutes.
        assert_eq!(
            Billed::of(&usage(10, 0, 2, 5, 0, 0)),
            Billed {
                input: 5,
                cache_write_1h: 5,
                ..Billed::default()
            }
        );
        // More reasoning than output.
        assert_eq!(
            Billed::of(&usage(0, 0, 0, 0, 2, 7)),
            Billed {
                reasoning: 7,
                ..Billed::default()
            }
        );
    }

    #[test]
    fn the_largest_counts_cannot_wrap() {
        let max = u64::MAX;
        let everything = usage(max, max, max, max, max, max);
        // Below a micro-dollar a token, the largest counts still cost less than u64::MAX:
        // exact.
        let cheap = Price {
            input_per_million: 100_000,
            cache_read_per_million: 200_000,
            output_per_million: 300_000,
            reasoning_per_million: 400_000,
            ..PRICE
        };
        let counts = usage(max, max / 4, 0, 0, max, max / 2);
        let exact = (u128::from(max - max / 4) * 100_000
            + u128::from(max / 4) * 200_000
            + u128::from(max - max / 2) * 300_000
            + u128::from(max / 2) * 400_000)
            .div_ceil(1_000_000);
        assert_eq!(u128::from(cheap.usage_cost(&counts)), exact);
        // Above it, clamped.
        assert_eq!(PRICE.usage_cost(&everything), u64::MAX);
        let dearest = Price {
            input_per_million: u64::MAX,
            output_per_million: u64::MAX,
            cache_read_per_million: u64::MAX,
            cache_write_per_million: u64::MAX,
            cache_write_1h_per_million: u64::MAX,
            reasoning_per_million: u64::MAX,
        };
        assert_eq!(dearest.usage_cost(&everything), u64::MAX, "clamped");
        assert_eq!(dearest.ceiling(max, max), u64::MAX);
    }

    #[test]
    fn the_ceiling_is_the_dearest_price_per_side() {
        // Input could all be written for an hour ($6/M), output all reasoning ($20/M).
        assert_eq!(PRICE.ceiling(1_000, 1_000), 6_000 + 20_000);
        assert_eq!(PRICE.cost(1_000, 1_000), 3_000 + 15_000);
    }

    fn exact(price: &Price, billed: Billed) -> u128 {
        [
            (billed.input, price.input_per_million),
            (billed.cache_read, price.cache_read_per_million),
            (billed.cache_write_5m, price.cache_write_per_million),
            (billed.cache_write_1h, price.cache_write_1h_per_million),
            (billed.output, price.output_per_million),
            (billed.reasoning, price.reasoning_per_million),
        ]
        .iter()
        .map(|&(t, p)| u128::from(t) * u128::from(p))
        .sum()
    }

    proptest! {
        #[test]
        fn consistent_counts_cost_exactly_their_parts(
            plain in 0u64..1 << 40, read in 0u64..1 << 40, write_5m in 0u64..1 << 40,
            write_1h in 0u64..1 << 40, plain_out in 0u64..1 << 40, reasoning in 0u64..1 << 40,
            prices in proptest::array::uniform6(0u64..100_000_000),
        ) {
            let price = Price {
                input_per_million: prices[0],
                output_per_million: prices[1],
                cache_read_per_million: prices[2],
                cache_write_per_million: prices[3],
                cache_write_1h_per_million: prices[4],
                reasoning_per_million: prices[5],
            };
            let counts = usage(
                plain + read + write_5m + write_1h,
                read,
                write_5m + write_1h,
                write_1h,
                plain_out + reasoning,
                reasoning,
            );
            let billed = Billed::of(&counts);
            prop_assert_eq!(billed, Billed {
                input: plain,
                cache_read: read,
                cache_write_5m: write_5m,
                cache_write_1h: write_1h,
                output: plain_out,
                reasoning,
            });
            let cost = u128::from(price.usage_cost(&counts));
            let exact = exact(&price, billed);
            // Rounded up, by less than one micro-dollar.
            prop_assert!(cost * 1_000_000 >= exact && cost * 1_000_000 < exact + 1_000_000);
            // Never above the ceiling for the same input and output.
            prop_assert!(price.usage_cost(&counts) <= price.ceiling(counts.input_tokens, counts.output_tokens));
        }

        #[test]
        fn any_counts_bill_each_token_once_never_negative(
            counts in proptest::array::uniform6(any::<u64>()),
        ) {
            let [input, read, write, write_1h, output, reasoning] = counts;
            let reported = usage(input, read, write, write_1h, output, reasoning);
            let billed = Billed::of(&reported);
            // Each side bills its whole or the sum of its parts, whichever is larger.
            let input_side = u128::from(billed.input) + u128::from(billed.cache_read)
                + u128::from(billed.cache_write_5m) + u128::from(billed.cache_write_1h);
            let parts = u128::from(read) + u128::from(write.max(write_1h));
            prop_assert_eq!(input_side, u128::from(input).max(parts));
            prop_assert_eq!(
                u128::from(billed.output) + u128::from(billed.reasoning),
                u128::from(output.max(reasoning))
            );
            // Never negative, never wrapped: the cost is the exact sum, rounded up and clamped.
            let exact = exact(&PRICE, billed).div_ceil(1_000_000);
            prop_assert_eq!(u128::from(PRICE.usage_cost(&reported)), exact.min(u128::from(u64::MAX)));
        }
    }
}
