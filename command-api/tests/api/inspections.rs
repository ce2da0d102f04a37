//! The inspections endpoints, end to end. PLACEHOLDER: written by the resource's author.
