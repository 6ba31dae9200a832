"""date_shift: move dates by a keyed offset in [-max_days, +max_days], the same for each subject.

With `subject_column`, all dates of one subject (say, the same patient id) move by the same offset, so
intervals between that subject's events are kept while calendar dates are hidden. Without it, each
distinct date value moves consistently. The offset comes from a keyed hash: reproducible with the key,
unpredictable without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from privml.errors import PrivmlError
from privml.transforms.base import Context, Technique, as_text, parse_dates, register
from privml.transforms.prf import cmac_digests, digest_integers


class DateShiftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_days: int = Field(default=30, ge=1, le=3650)
    subject_column: str | None = None
    format: str = Field(default="%Y-%m-%d", description="strftime format of the output")


@register
class DateShift(Technique):
    name = "date_shift"
    Params = DateShiftParams
    needs_key = True
    purpose = "privml/date-shift/v1"

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        assert ctx.secret is not None
        params: DateShiftParams = self.params  # type: ignore[assignment]
        dates = parse_dates(values, ctx.column)
        if params.subject_column is not None:
            if ctx.frame is None or params.subject_column not in ctx.frame.columns:
                raise PrivmlError(
                    f"column '{ctx.column}': subject_column '{params.subject_column}' is not in the table"
                )
            subjects = as_text(ctx.frame[params.subject_column]).fillna("")
        else:
            subjects = as_text(values).fillna("")
        key, span = ctx.secret, 2 * params.max_days + 1
        codes, uniques = pd.factorize(subjects)
        numbers = digest_integers(cmac_digests(uniques.tolist(), key))
        offsets = (numbers % np.uint64(span)).astype(np.int64) - params.max_days
        shifted = dates + pd.to_timedelta(offsets[codes], unit="D")
        out = shifted.dt.strftime(params.format).astype(object)
        out = out.where(values.notna(), None)
        out.name = values.name
        return out
