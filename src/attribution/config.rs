//! Attribution models chosen from configuration: a host keeps its model
//! settings in its own config and builds the model when it needs it.

use serde::{Deserialize, Serialize};

use super::{
    AnchorWeights, Anchored, AttributionModel, FirstTouch, LastNonDirect, LastTouch, Linear,
    ModelError, TimeDecay,
};
use crate::types::Span;

/// A built-in journey model and its parameters, as written in configs.
///
/// ```
/// use leadflow::attribution::ModelConfig;
/// let config: ModelConfig = serde_json::from_str(r#"{"model": "position", "ends": 0.45}"#)?;
/// let model = config.build()?;
/// assert_eq!(model.name(), "position");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ModelConfig {
    /// First touch.
    First,
    /// Last touch.
    Last,
    /// The last touch not on a direct channel.
    LastNonDirect {
        /// The channels counted as direct (default: `direct`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        direct: Vec<String>,
    },
    /// Equal shares.
    Linear,
    /// Exponential decay towards the conversion.
    TimeDecay {
        /// The half-life (default 7 days).
        #[serde(default = "seven_days")]
        half_life: Span,
    },
    /// Position-based (U-shaped): `ends` to each of the first and last
    /// touches (default 0.4), the rest between.
    Position {
        /// The share of each end.
        #[serde(default = "forty_percent")]
        ends: f64,
    },
    /// W-shaped (also read as `w_shaped`, the name its reports carry).
    #[serde(alias = "w_shaped")]
    W,
    /// Full path (Z; also read as `full_path`, the name its reports carry).
    #[serde(alias = "full_path")]
    Z,
    /// J-shaped (also read as `j_shaped`, as path tables name it).
    #[serde(alias = "j_shaped")]
    J,
    /// Inverse J.
    InverseJ,
    /// Custom anchor shares.
    Anchored {
        /// The model's name in reports.
        name: String,
        /// The shares.
        weights: AnchorWeights,
    },
}

fn seven_days() -> Span {
    Span::days(7)
}

fn forty_percent() -> f64 {
    0.4
}

impl ModelConfig {
    /// The model.
    ///
    /// # Errors
    /// [`ModelError`] for parameters the model refuses (a zero
    /// half-life, shares that are negative or do not sum to 1).
    pub fn build(&self) -> Result<Box<dyn AttributionModel>, ModelError> {
        Ok(match self {
            Self::First => Box::new(FirstTouch),
            Self::Last => Box::new(LastTouch),
            Self::LastNonDirect { direct } if direct.is_empty() => {
                Box::new(LastNonDirect::default())
            }
            Self::LastNonDirect { direct } => {
                Box::new(LastNonDirect::with_direct_channels(direct.iter().cloned()))
            }
            Self::Linear => Box::new(Linear),
            Self::TimeDecay { half_life } => Box::new(TimeDecay::new(*half_life)?),
            Self::Position { ends } => Box::new(Anchored::position_based_with(*ends)?),
            Self::W => Box::new(Anchored::w_shaped()),
            Self::Z => Box::new(Anchored::full_path()),
            Self::J => Box::new(Anchored::j_shaped()),
            Self::InverseJ => Box::new(Anchored::inverse_j()),
            Self::Anchored { name, weights } => Box::new(Anchored::new(name.clone(), *weights)?),
        })
    }
}
