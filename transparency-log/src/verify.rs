//! Checking inclusion and consistency proofs, as RFC 9162 §2.1.3.2 and §2.1.4.2 describe.

use crate::error::VerifyError;
use crate::hash::{Hash, node_hash};

/// Checks that `proof` proves the leaf whose hash is `leaf_hash` to be leaf `index` of the tree
/// of `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let wrong_length = VerifyError::WrongProofLength(proof.len());
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(wrong_length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong_length);
    }
    if r != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` proves the tree of `new_size` leaves whose root is `new_root` to extend
/// the tree of `old_size` leaves whose root is `old_root` (RFC 9162 §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots; every tree extends the empty one, with an
/// empty proof.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    let wrong_length = VerifyError::WrongProofLength(proof.len());
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(wrong_length);
        }
        return if old_root == new_root && (old_size > 0 || *old_root == Hash::EMPTY_ROOT) {
            Ok(())
        } else {
            Err(VerifyError::RootMismatch)
        };
    }
    if old_size == 0 {
        // Every tree extends the empty one, whose root is fixed: a "tree of no leaves" with
        // another root is no tree at all.
        return if !proof.is_empty() {
            Err(wrong_length)
        } else if *old_root != Hash::EMPTY_ROOT {
            Err(VerifyError::OldRootMismatch)
        } else {
            Ok(())
        };
    }
    // 0 < first < second from here on, as in the RFC.
    // 1. An empty path fails.
    let Some((first_of_proof, rest_of_proof)) = proof.split_first() else {
        return Err(wrong_length);
    };
    // 2. If first is an exact power of 2, first_hash is the path's first value.
    let (start, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (first_of_proof, rest_of_proof)
    };
    // 3. fn = first - 1, sn = second - 1.
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    // 4. Shift both while fn's least significant bit is set.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. fr = sr = the path's first value.
    let (mut fr, mut sr) = (*start, *start);
    // 6. Each subsequent value.
    for c in rest {
        if sn == 0 {
            return Err(wrong_length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7. fr is first_hash, sr is second_hash and sn is 0.
    if sn != 0 {
        return Err(wrong_length);
    }
    if fr != *old_root {
        return Err(VerifyError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}
