"""Evaluation on recorded drives: write bags (make_bag), replay them through the
running node (bag_eval), score a live stream (evaluator_node), write reports."""
