//! Plakar's `StorageResource` and MACs on the wire, checked into the host
//! library's types.

use kloset_host::{Mac, Resource};
use tonic::Status;

use crate::proto::StorageResource;

/// The resource of a request, or `INVALID_ARGUMENT` naming the number sent.
/// `UNDEFINED` (0) is what an unset field decodes to: a client bug, refused.
pub fn resource_from_wire(value: i32) -> Result<Resource, Status> {
    match StorageResource::try_from(value) {
        Ok(StorageResource::Packfile) => Ok(Resource::Packfile),
        Ok(StorageResource::State) => Ok(Resource::State),
        Ok(StorageResource::Lock) => Ok(Resource::Lock),
        Ok(StorageResource::EccPackfile) => Ok(Resource::EccPackfile),
        Ok(StorageResource::EccState) => Ok(Resource::EccState),
        Ok(StorageResource::Undefined) | Err(_) => Err(Status::invalid_argument(format!(
            "unknown storage resource {value}"
        ))),
    }
}

/// A 32-byte MAC, or `INVALID_ARGUMENT` giving the length sent.
pub fn mac_from_wire(bytes: &[u8]) -> Result<Mac, Status> {
    Mac::try_from(bytes).map_err(|e| Status::invalid_argument(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defined_resource_maps_and_others_are_refused() {
        let cases = [
            (1, Some(Resource::Packfile)),
            (2, Some(Resource::State)),
            (3, Some(Resource::Lock)),
            (4, Some(Resource::EccPackfile)),
            (5, Some(Resource::EccState)),
            (0, None),
            (6, None),
            (-1, None),
        ];
        for (wire, want) in cases {
            match (resource_from_wire(wire), want) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{wire}"),
                (Err(status), None) => {
                    assert_eq!(status.code(), tonic::Code::InvalidArgument);
                    assert!(status.message().contains(&wire.to_string()), "{status:?}");
                }
                (got, want) => panic!("{wire}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn macs_must_be_32_bytes() {
        assert!(mac_from_wire(&[7u8; 32]).is_ok());
        for len in [0usize, 31, 33, 64] {
            let status = mac_from_wire(&vec![1u8; len]).unwrap_err();
            assert!(status.message().contains(&len.to_string()), "{status:?}");
        }
    }
}
