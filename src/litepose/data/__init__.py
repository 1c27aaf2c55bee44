"""Training data: COCO-format keypoint datasets, paper augmentation, targets and synthetic crowds."""
