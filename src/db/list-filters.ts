/** A list's time range: rows created at or after `createdAfter`, and before `createdBefore`. */
export interface CreatedRange {
  createdAfter?: Date;
  createdBefore?: Date;
}
